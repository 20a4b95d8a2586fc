"""The ingest service.

`vidpipe up` starts it once `services/ingest/main.py` exists (see its issue).
"""
