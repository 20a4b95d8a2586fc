"""Shared building blocks, by role: domain, db, kafka, media, storage, access, runtime, stack, http.

Imports no service. Inside, layers run from the pure ``domain`` at the bottom up to ``http``
(the contracts in ``pyproject.toml``).
"""
