"""PostgreSQL: the engine and migrations, the read model's tables, ingest's account tables."""
