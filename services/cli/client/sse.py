"""A Server-Sent Events parser (the WHATWG rules), fed line by line. Pure, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched event; ``name`` is ``None`` for a comment (a heartbeat)."""

    name: str | None
    data: str = ""
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseParser:
    """Feed lines (without their line ending); complete events come back from ``feed``."""

    last_event_id: str | None = None
    retry_ms: int | None = None  # the server's reconnection time (``retry:``), once it sent one
    _name: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> ServerEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return ServerEvent(None)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._name = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        name, data = self._name or "message", self._data
        self._name, self._data = "", []
        if not data:
            return None
        return ServerEvent(name, "\n".join(data), self.last_event_id)
