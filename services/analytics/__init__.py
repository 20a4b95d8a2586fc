"""The analytics service: per-minute aggregates of the job log, as a faust stream processor."""
