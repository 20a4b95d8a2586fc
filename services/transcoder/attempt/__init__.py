"""One attempt of a job or of a chunk: the pipeline, its stages, progress, a split attempt."""
