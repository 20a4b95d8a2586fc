"""Accounts: ``/auth/*``, users and refresh tokens, passwords, lockout, ``vidpipe user``."""
