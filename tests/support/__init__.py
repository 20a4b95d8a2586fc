"""Plain helpers shared by the test suites: import them; fixtures live in ``tests/fixtures``."""
