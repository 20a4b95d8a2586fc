"""Split and stitch: the split rule and chunk boundaries (pure), command lines, inboxes."""
