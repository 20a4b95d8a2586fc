"""A network namespace joined to the host by a veth pair on a private /30, made by the test.

The host end is ``HOST_ADDR``, the namespace end ``NS_ADDR``; nothing is routed anywhere else.
``cut()`` / ``restore()`` take the host end down and up; ``close()`` removes everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator

HOST_ADDR = "10.213.37.1"
NS_ADDR = "10.213.37.2"
PREFIX_LEN = 30


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"vpprobe{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class Namespace:
    """One namespace with a veth pair; ``exec_prefix`` runs a command inside it."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name = f"vprel{tag}"
        self.host_if = f"vph{tag}"
        self.ns_if = f"vpn{tag}"

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.name)
        _ip("addr", "add", f"{HOST_ADDR}/{PREFIX_LEN}", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        inside = ["netns", "exec", self.name, "ip"]
        _ip(*inside, "addr", "add", f"{NS_ADDR}/{PREFIX_LEN}", "dev", self.ns_if)
        _ip(*inside, "link", "set", self.ns_if, "up")
        _ip(*inside, "link", "set", "lo", "up")

    def cut(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def restore(self) -> None:
        _ip("link", "set", self.host_if, "up")

    def close(self) -> None:
        """Kill what still runs inside (only processes this test put there), then remove."""
        pids = _ip("netns", "pids", self.name, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "del", self.name, check=False)
        _ip("link", "del", self.host_if, check=False)  # gone with the namespace, normally


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    ns = Namespace()
    try:
        ns.create()
        yield ns
    finally:
        ns.close()
