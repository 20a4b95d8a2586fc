"""Shared building blocks: config, Kafka, database, storage, logging, metrics, job state."""
