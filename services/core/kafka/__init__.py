"""Kafka building blocks: topic creation, the event publisher, consumer defaults."""
