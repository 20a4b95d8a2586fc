"""One ``vidpipe up`` per data dir: an exclusive lock on ``up.lock`` held for the stack's life.

The data dir is private (``0700``): ``vidpipe up`` is single-user, and the database, the event
log, the media and the secrets under it are nobody else's to read. A data dir of an earlier
``up`` (it has ``up.lock``) or an empty one is tightened to ``0700``; another existing
directory named by ``VIDPIPE_DATA_DIR`` keeps its mode (it may be shared, e.g. ``/tmp``).

The kernel drops the lock when its holder dies, even by SIGKILL, so a crashed stack never
blocks the next start. The holder writes its pid into the lock file and its addresses into
``stack.json``; a refused second ``up`` names both and changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from services.core.stack.discovery import STACK_FILE
from services.core.storage.local import PRIVATE_DIR, make_private_dirs

LOCK_FILE = "up.lock"


class DataDirInUse(RuntimeError):
    """Another ``vidpipe up`` runs on this data dir; the message names it."""


class DataDirLock:
    """``flock`` on ``<data dir>/up.lock``; ``acquire`` raises DataDirInUse when it is held."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        make_private_dirs(self.data_dir)
        with contextlib.suppress(OSError):
            if self.path.exists() or not any(self.data_dir.iterdir()):
                self.data_dir.chmod(PRIVATE_DIR)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(self.describe_holder()) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def describe_holder(self) -> str:
        pid = self.path.read_text().strip() or "?"
        where = "still starting"
        with contextlib.suppress(OSError, ValueError):
            stack = json.loads((self.data_dir / STACK_FILE).read_text())
            if str(stack.get("pid")) == pid and stack.get("port"):
                where = f"port {stack['port']}, Kafka at {stack['kafka_bootstrap_servers']}"
        return (
            f"{self.data_dir} is in use by the `vidpipe up` with pid {pid} ({where}); "
            "stop it or choose another VIDPIPE_DATA_DIR"
        )
