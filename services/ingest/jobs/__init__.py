"""Jobs: ``/jobs`` reads and commands, bulk actions, read-your-writes."""
