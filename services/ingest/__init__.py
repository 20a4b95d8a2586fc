"""The ingest service: the public REST API, the only door for clients (``vidpipe ingest``)."""
