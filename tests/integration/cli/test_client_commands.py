"""The client commands against an ingest server in this process (``api`` fixture), run as
subprocesses without blocking the server's event loop; and with no server at all."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.ingest import Api


async def vidpipe(tmp_path: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env=env, stdin=pipe, stdout=pipe, stderr=pipe
    )
    out, err = await proc.communicate(stdin.encode())
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_connection_refused_is_one_line(tmp_path: Path) -> None:
    args = ("login", "--server", "http://127.0.0.1:9", "--username", "x", "--password-stdin")
    code, _, err = await vidpipe(tmp_path, *args, stdin="pw\n")
    assert code == 1
    assert err == "vidpipe: cannot connect to http://127.0.0.1:9: is vidpipe running there?\n"


async def test_commands_need_a_login(tmp_path: Path) -> None:
    code, _, err = await vidpipe(tmp_path, "jobs")
    assert (code, err) == (2, "vidpipe: not logged in: run `vidpipe login --server URL`\n")


async def test_login_jobs_and_a_refusal_in_the_servers_words(api: Api, tmp_path: Path) -> None:
    user = await api.register()
    server = str(api.client.base_url).rstrip("/")
    login = ("login", "--server", server, "--username", user["username"], "--password-stdin")
    code, _, err = await vidpipe(tmp_path, *login, stdin="wrong password\n")
    assert (code, err) == (1, "vidpipe: invalid username or password (invalid_credentials)\n")
    code, out, err = await vidpipe(tmp_path, *login, stdin="correct horse\n")
    assert code == 0, err
    code, out, err = await vidpipe(tmp_path, "jobs", "--json")
    assert (code, out) == (0, ""), err
    missing = "00000000-0000-4000-8000-000000000000"
    code, _, err = await vidpipe(tmp_path, "cancel", missing)
    assert code == 1 and "(not_found)" in err and "Traceback" not in err
    code, _, _ = await vidpipe(tmp_path, "logout")
    assert code == 0 and not (tmp_path / "config" / "vidpipe" / "session.json").exists()
