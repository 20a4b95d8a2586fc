"""Ingest's HTTP plumbing: request bodies and answers, middleware, rate limits, ``/docs``."""
