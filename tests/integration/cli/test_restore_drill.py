"""The restore drill of docs/operations.md, performed on the embedded stack.

Stop ``vidpipe up``, copy its data dir, delete the original, start from the copy: the
accounts, the jobs (via the API), their outputs (downloaded), the event log (via ``vidpipe
tap``) are all there, a session token issued before still works, and new work is processed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import media
from tests.support.cli import vidpipe
from tests.support.up import Up, User

pytestmark = pytest.mark.slow


@pytest.fixture
def drill_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vpr", dir="/tmp") as tmp:
        yield Path(tmp)


def tapped(data_dir: Path) -> list[dict[str, Any]]:
    """Every event of ``video.jobs``, as ``vidpipe tap`` prints them."""
    tap = vidpipe(
        "tap",
        "video.jobs",
        "--from-beginning",
        "--idle-exit",
        "3",
        env={"VIDPIPE_DATA_DIR": str(data_dir)},
        timeout=120,
    )
    assert tap.returncode == 0, tap.stderr
    return [json.loads(line) for line in tap.stdout.splitlines()]


async def what_the_user_sees(user: User, job_id: str) -> dict[str, Any]:
    """The job as the API shows it (minus its expiring media URLs), its history and output."""
    async with httpx.AsyncClient(base_url=user.base, timeout=30) as client:
        job = (await client.get(f"/jobs/{job_id}", headers=user.headers)).json()
        history = await client.get(f"/jobs/{job_id}/history", headers=user.headers)
        download = await client.get(
            f"/jobs/{job_id}/download", headers=user.headers, follow_redirects=True
        )
        listed = await client.get("/jobs", headers=user.headers)
    assert history.status_code == 200 and download.status_code == 200, download.text
    assert download.content, "an empty output"
    return {
        "status": job["status"],
        "outputs": [(o.get("name"), o.get("size")) for o in job.get("outputs", [])],
        "history": history.json(),
        "download": download.content,
        "listed": [j["id"] for j in listed.json()["items"]],
    }


async def test_restore_from_a_copy_of_the_data_dir(drill_dir: Path) -> None:
    original, restored = drill_dir / "a", drill_dir / "b"
    source = media.make_video(drill_dir / "source.mp4", seconds=1.0)
    up = Up(original)
    try:
        up.wait_ready()
        user = await User.register(up.address("ingest"))
        job_id = await user.upload(source)
        await user.completed(job_id)
        before = await what_the_user_sees(user, job_id)
        events = tapped(original)
        assert {e["type"] for e in events} >= {"video.job.submitted", "video.job.completed"}
    except BaseException:
        up.dump()
        raise
    finally:
        assert up.stop() == 0

    # The drill: a cold copy (the stack is stopped) that keeps owners and modes (as root, the
    # embedded PostgreSQL runs as its own user and refuses a data dir it does not own), and
    # nothing left of the original.
    subprocess.run(["cp", "-a", str(original), str(restored)], check=True)
    shutil.rmtree(original)

    again = Up(restored)
    try:
        again.wait_ready()
        old_session = User(again.address("ingest"), user.headers)  # a token issued before
        assert await what_the_user_sees(old_session, job_id) == before
        assert tapped(restored)[: len(events)] == events, "the log is the same, in order"
        fresh = await User.login(again.address("ingest"))
        await fresh.completed(await fresh.upload(source))  # and the copy works on
    except BaseException:
        again.dump()
        raise
    finally:
        assert again.stop() == 0
