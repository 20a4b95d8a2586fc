"""The reliability suite: every test here carries the ``reliability`` marker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import Processes, processes
from tests.support.ingest import Api, start_api

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Children of one scenario; all stopped at the end, their logs printed on failure."""
    with processes(tmp_path / "logs") as started:
        yield started
        print(started.dump())  # shown by pytest only when the test failed


@pytest.fixture
async def ingest(test_env: dict[str, str]) -> AsyncIterator[Api]:
    """The real ingest app on a loopback socket, no rate limits and no in-flight quota (the
    scenarios are bursts from one user; the quotas have their own test)."""
    env = {
        **test_env,
        "MAX_FILE_SIZE": "2MB",
        "RATE_LIMIT_PER_MINUTE": "0",
        "USER_RATE_LIMIT_PER_MINUTE": "0",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "USER_JOBS_IN_FLIGHT": "1000000",
    }
    api, stop = await start_api(env)
    yield api
    await stop()
