"""The transcoder service: the ``transcoder`` consumer group's workers (``vidpipe transcoder``)."""
