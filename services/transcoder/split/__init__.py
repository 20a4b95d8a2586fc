"""TODO role."""
