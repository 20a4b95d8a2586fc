"""The notifier service: live job events to browsers over SSE (``vidpipe notifier``)."""
