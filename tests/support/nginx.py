"""The shipped ``infra/nginx.conf`` run by the machine's nginx (Debian's ``/usr/sbin/nginx``) on
loopback, in front of servers of the test.

Only what the place requires changes: the upstreams are the test's servers (not Compose's
service names), nginx listens on a free loopback port, and its pid, logs and temporary files go
to a scratch directory (``tools.infra_check.nginx_config`` for the user and the log).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.core.runtime.process import free_port
from tests.support.eventually import eventually
from tests.support.repo import ROOT
from tools.infra_check import nginx_config

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ATTEMPTS = 3  # a free port may be taken before nginx binds it: another one


def nginx_version() -> tuple[int, ...]:
    done = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True)
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", done.stderr)
    assert found, done.stderr
    return tuple(int(part) for part in found.groups())


def shipped_config(tmp: Path, port: int, upstreams: dict[str, int]) -> str:
    """``infra/nginx.conf`` listening on ``127.0.0.1:port``, each upstream on loopback."""
    conf = nginx_config((ROOT / "infra" / "nginx.conf").read_text(), tmp, (0, 0, 0))
    conf = re.sub(r"^\s*resolver\s[^;]*;", "", conf, flags=re.M)  # nothing to resolve here
    for name, upstream_port in upstreams.items():
        conf, found = re.subn(rf"server\s+{name}:\d+;", f"server 127.0.0.1:{upstream_port};", conf)
        assert found == 1, f"no upstream {name} in infra/nginx.conf"
    conf, found = re.subn(r"listen\s+80;", f"listen 127.0.0.1:{port};", conf)
    assert found == 1, "infra/nginx.conf listens on port 80 once"
    temp = "".join(
        f"    {kind}_temp_path {tmp}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return conf.replace("http {\n", "http {\n" + temp, 1)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.asynccontextmanager
async def shipped_nginx(upstreams: dict[str, int]) -> AsyncIterator[str]:
    """The shipped nginx in front of ``upstreams`` (name in the config -> loopback port); yields
    its base URL."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (make infra-tools installs Debian's)")
    with tempfile.TemporaryDirectory(prefix="vidpipe-nginx-") as name:
        tmp = Path(name)
        for attempt in range(ATTEMPTS):
            port = free_port()
            (tmp / "nginx.conf").write_text(shipped_config(tmp, port, upstreams))
            proc = subprocess.Popen(
                [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g",
                 f"daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;"],
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            try:

                def up(proc: subprocess.Popen[bytes] = proc, port: int = port) -> bool:
                    if proc.poll() is not None:
                        raise RuntimeError((tmp / "error.log").read_text(errors="replace"))
                    return _listening(port)

                try:
                    await eventually(up, timeout=15, message="nginx listening")
                except RuntimeError as exc:
                    if "Address already in use" in str(exc) and attempt < ATTEMPTS - 1:
                        continue
                    raise
                yield f"http://127.0.0.1:{port}"
                return
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
