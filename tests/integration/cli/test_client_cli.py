"""The client commands end to end: ``vidpipe login/submit/download`` as subprocesses against a
real ``vidpipe up``, each with its own config dir (``XDG_CONFIG_HOME``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import media
from tests.support.cli import vidpipe
from tests.support.up import Up

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="vpc", dir="/tmp") as tmp:
        up = Up(Path(tmp))
        try:
            up.wait_ready()
            yield up.address("ingest")
        except BaseException:
            up.dump()
            raise
        finally:
            up.stop()


@pytest.fixture
def user_env(server: str, tmp_path: Path) -> dict[str, str]:
    """A new account, logged in with ``vidpipe login``; the environment of its commands."""
    name = f"cli{uuid.uuid4().hex[:8]}"
    sent = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert httpx.post(f"{server}/auth/register", json=sent).status_code == 201
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    login = subprocess.run(
        [sys.executable, "-m", "services.cli", "login", "--server", server, "--username", name],
        input=PASSWORD + "\n",
        env={**os.environ, **env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    session = tmp_path / "config" / "vidpipe" / "session.json"
    assert session.stat().st_mode & 0o777 == 0o600
    return env


def urls(stdout: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in stdout.splitlines() if "://" in line]


def test_submit_follow_prints_playable_urls_and_download_resumes(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    video = media.make_video(tmp_path / "clip.mp4", seconds=1.0)
    done = vidpipe("submit", str(video), "--follow", env=user_env, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clip.mp4: completed" in done.stdout
    # the outcome once, not again among the progress lines (a user sees both streams)
    shown = done.stdout + done.stderr
    assert shown.count("completed") == 1, shown
    found = urls(done.stdout)
    assert found, done.stdout
    played = httpx.get(found[0])
    assert played.status_code == 200
    assert played.headers["content-type"].startswith("video/"), played.headers
    job_id = done.stdout.split("job ", 1)[1].split()[0]
    whole = tmp_path / "whole.mp4"
    assert vidpipe("download", job_id, "-o", str(whole), env=user_env).returncode == 0
    assert whole.read_bytes() == played.content
    partial = tmp_path / "partial.mp4"
    partial.write_bytes(played.content[: len(played.content) // 2])
    resumed = vidpipe("download", job_id, "-o", str(partial), env=user_env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at byte {len(played.content) // 2}" in resumed.stderr  # a 206 to a Range
    assert partial.read_bytes() == played.content


def test_a_corrupt_file_exits_1_with_the_servers_message(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all " * 100)
    done = vidpipe("submit", str(junk), "--follow", env=user_env)
    assert done.returncode == 1
    assert "(not_a_video)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_interrupted_submit_resumes_from_the_servers_offset(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    video = media.make_video(tmp_path / "big.mp4", seconds=4.0, size="640x480")
    size = video.stat().st_size
    env = {**os.environ, **user_env, "VIDPIPE_CHUNK_SIZE": str(size // 16 + 1)}
    first = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "submit", str(video)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stderr is not None
    for line in first.stderr:
        if "uploaded" in line:  # the server adopted a chunk: stop the client there
            first.kill()
            break
    first.wait(30)
    first.stderr.close()
    second = vidpipe("submit", str(video), "--json", env={**user_env, **env}, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "resuming at byte" in second.stderr  # a HEAD told the client the offset
    resumed_at = int(second.stderr.split("resuming at byte ", 1)[1].split()[0])
    sent = int(second.stderr.split(": sent ", 1)[1].split()[0])
    assert 0 < resumed_at < size and sent == size - resumed_at
    job_id = json.loads(second.stdout.splitlines()[-1])["job_id"]
    shown = vidpipe("job", job_id, "--json", env=user_env)
    job = json.loads(shown.stdout)
    assert job["source_sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert job["source_size"] == size
