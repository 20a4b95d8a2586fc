"""The ``vidpipe`` client commands: a user's side of the public HTTP API (login, submit, jobs).

They talk HTTP only and import nothing from the services (an import-linter contract says so).
"""
