"""The projector service.

`vidpipe up` starts it once `services/projector/main.py` exists (see its issue).
"""
