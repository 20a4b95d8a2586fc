"""Reading the log: the group consumer, the stop tailer, the pool of slots, what is committable."""
