"""JSON structured logging with a correlation id carried through async code.

Every record becomes one JSON line: ``ts``, ``level``, ``logger``, ``service``, ``message``,
``correlation_id``, whatever was passed with ``extra=`` (``job_id``, ``method``, ``path``...),
and ``exc_info`` when an exception is attached. The correlation id lives in a
:class:`contextvars.ContextVar`, so each request or consumed record keeps its own across awaits.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

LEVELS: dict[str, int] = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "correlation_id",
}


def current_correlation_id() -> str | None:
    """The correlation id of the current request or event, if any."""
    return _correlation_id.get()


@contextmanager
def correlation_scope(correlation_id: str | None) -> Iterator[str | None]:
    """Make ``correlation_id`` current inside the ``with`` block (and tasks started in it)."""
    token = _correlation_id.set(correlation_id)
    try:
        yield correlation_id
    finally:
        _correlation_id.reset(token)


def parse_level(level: str) -> int:
    """``DEBUG``, ``INFO``, ``WARN``/``WARNING`` or ``ERROR`` (any case) as a logging level."""
    try:
        return LEVELS[level.strip().upper()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR"
        ) from None


class CorrelationIdFilter(logging.Filter):
    """Stamps the current correlation id on a record when it is emitted, in the caller's context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = current_correlation_id()
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None) or current_correlation_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        # default=str: a UUID or datetime passed in extra= must not lose the whole line.
        return json.dumps(payload, default=str, ensure_ascii=False)


class _JsonHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so reconfiguring replaces only it."""


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record of the process as JSON lines to ``stream`` (stderr by default).

    Safe to call again: the handler installed by an earlier call is replaced, other handlers
    on the root logger (pytest's, for one) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JsonHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _JsonHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(CorrelationIdFilter())
    root.addHandler(handler)
    root.setLevel(parse_level(level))
