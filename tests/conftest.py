"""The test harness: real broker and real PostgreSQL for the session, isolated per test.

Layout (docs/testing.md): ``unit/<package>/`` mirrors ``services/`` and ``schemas/`` and needs
no server; ``integration/<service>/`` runs real servers, ffmpeg and HTTP (``core/`` for the shared
core, ``cli/`` for ``vidpipe``'s commands and whole stacks); ``reliability/`` injects faults into
real processes. Everything they share lives in ``tests/support/``, one module per area; the
modules that define fixtures are registered here.
"""

pytest_plugins = [
    "tests.support.infra",
    "tests.support.media",
    "tests.support.ingest",
    "tests.support.notifier",
    "tests.support.projector",
    "tests.support.transcoder",
    "tests.support.storage",
]
