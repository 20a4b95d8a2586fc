"""The transcoder service.

`vidpipe up` starts it once `services/transcoder/main.py` exists (see its issue).
"""
