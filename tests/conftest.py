"""The test harness: real broker and real PostgreSQL for the session, isolated per test.

Layout: ``unit/`` needs no server, ``integration/`` runs real servers, ffmpeg and HTTP,
``reliability/`` injects faults into real processes. Fixtures shared by all of them live in
``tests/fixtures/`` and are registered here; plain helpers live in ``tests/support/``.
"""

pytest_plugins = [
    "tests.fixtures.infra",
    "tests.fixtures.media",
    "tests.fixtures.ingest",
    "tests.fixtures.notifier",
    "tests.fixtures.projector",
    "tests.fixtures.transcoder",
]
