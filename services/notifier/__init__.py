"""The notifier service.

`vidpipe up` starts it once `services/notifier/main.py` exists (see its issue).
"""
