"""The projector service: the read model in PostgreSQL, from the log (``vidpipe projector``)."""
