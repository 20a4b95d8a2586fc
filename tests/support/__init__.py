"""What the suites share, one module per area: helpers to import, and the fixtures of the modules
that ``tests/conftest.py`` registers through ``pytest_plugins``."""
