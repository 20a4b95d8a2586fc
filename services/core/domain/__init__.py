"""The pure domain: the job state machine and the read model's columns. No I/O."""
