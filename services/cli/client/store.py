"""Files the client keeps in the user's config dir: the session (tokens) and the resume index.

Pure apart from reading and writing small JSON files, each written 0600 and replaced atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# refresh this long before the access token expires, so a request never races its expiry
REFRESH_MARGIN_S = 30.0


def config_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/vidpipe`` (default ``~/.config/vidpipe``)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "vidpipe"


def write_private(path: Path, data: Any) -> None:
    """Write ``data`` as JSON readable by the owner only, replacing the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


@dataclass
class Session:
    """Where the user logged in and the tokens the server gave."""

    server: str
    username: str
    access_token: str
    refresh_token: str
    expires_at: float

    @classmethod
    def from_tokens(cls, server: str, username: str, tokens: Mapping[str, Any]) -> Session:
        expires_at = time.time() + float(tokens["expires_in"])
        return cls(server, username, tokens["access_token"], tokens["refresh_token"], expires_at)

    def stale(self, now: float) -> bool:
        """True when the access token is expired or about to be."""
        return now >= self.expires_at - REFRESH_MARGIN_S


class SessionStore:
    """``session.json`` in the config dir."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "session.json"

    def load(self) -> Session | None:
        raw = read_json(self.path)
        if not isinstance(raw, dict):
            return None
        try:
            return Session(**raw)
        except TypeError:
            return None

    def save(self, session: Session) -> None:
        write_private(self.path, asdict(session))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def upload_key(server: str, path: Path, options: str) -> str:
    """What identifies one upload of one file: the server, the file's absolute path, size and
    mtime (a changed file starts over), and the options (they travel in the upload's metadata)."""
    stat = path.stat()
    return f"{server}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{options}"


class ResumeIndex:
    """``uploads.json``: upload URLs by ``upload_key``, so a re-run continues an upload."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "uploads.json"

    def _all(self) -> dict[str, str]:
        raw = read_json(self.path)
        return raw if isinstance(raw, dict) else {}

    def get(self, key: str) -> str | None:
        return self._all().get(key)

    def put(self, key: str, url: str) -> None:
        entries = self._all()
        entries[key] = url
        write_private(self.path, entries)

    def forget(self, key: str) -> None:
        entries = self._all()
        if entries.pop(key, None) is not None:
            write_private(self.path, entries)
