"""vidpipe services: one package per service, shared building blocks in ``services.core``."""
