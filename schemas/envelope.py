"""CloudEvents 1.0 in Kafka *binary* mode: how an event becomes a Kafka record and back.

The CloudEvents attributes travel in ``ce_*`` headers, the event's JSON data is the record
value and the job id is the key, so any Kafka client can read the log without this module.
``decode`` reads every schema version still in the log: older payloads are upcast (see
``schemas.upcasting``) before validation. Anything it cannot read raises ``DecodeError``
and can be parked on the dead-letter topic with ``dead_letter``.

``decode`` is the only decoder: every consumer, the projector included (it decodes every
record of the log), calls it. So it is written for the record our producers write (current
version, ``Z`` time): header bytes are compared as bytes, and parsing a header's text (to name
what is wrong in the error) only happens when a comparison fails.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from schemas.events import EVENTS_BY_TYPE, Event
from schemas.topics import JOBS_DLQ
from schemas.upcasting import UPCASTERS

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = Sequence[tuple[str, bytes | None]]
"""Record headers as aiokafka hands them over (a value may be null)."""

DecodeReason = Literal[
    "missing_header",
    "bad_header",
    "bad_specversion",
    "unknown_type",
    "unsupported_version",
    "missing_value",
    "bad_json",
    "invalid_data",
    "subject_mismatch",
]

# Per raw ce_type: the class and the ce_schemaversion bytes its current version is sent with.
_CURRENT_BY_TYPE: dict[bytes, tuple[type[Event], bytes]] = {
    name.encode(): (cls, str(cls.schema_version).encode()) for name, cls in EVENTS_BY_TYPE.items()
}
_SPEC_VERSION_BYTES = SPEC_VERSION.encode()
_MAX_DLQ_MESSAGE = 2000  # header bytes; a pydantic report on a huge payload can be long


class DecodeError(ValueError):
    """A record that cannot become an ``Envelope``; ``reason`` is a short machine code."""

    def __init__(self, reason: DecodeReason, message: str) -> None:
        super().__init__(message)
        self.reason: DecodeReason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[DecodeError], tuple[DecodeReason, str]]:
        return DecodeError, (self.reason, self.message)  # picklable across worker processes


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What a producer sends: topic, key, value and headers, all already bytes."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Envelope:
    """An event with its CloudEvents attributes and, once read, its position in the log.

    ``id`` defaults to a fresh UUID4 and ``time`` to now; ``time`` must be timezone-aware
    and is kept in UTC."""

    event: Event
    source: str
    id: str
    time: datetime
    correlation_id: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    timestamp_ms: int | None

    def __init__(
        self,
        *,
        event: Event,
        source: str,
        id: str | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        # Written by hand: the generated __init__ of a frozen dataclass goes through
        # object.__setattr__ per field, three times slower than the slots' own setters, and
        # consumers build one envelope per record (10^5 per second in the projector).
        if time is None:
            time = datetime.now(UTC)
        elif time.tzinfo is not UTC:
            if time.utcoffset() is None:
                raise ValueError("Envelope.time must be timezone-aware")
            time = time.astimezone(UTC)
        _set_event(self, event)
        _set_source(self, source)
        _set_id(self, str(uuid.uuid4()) if id is None else id)
        _set_time(self, time)
        _set_correlation_id(self, correlation_id)
        _set_topic(self, topic)
        _set_partition(self, partition)
        _set_offset(self, offset)
        _set_timestamp_ms(self, timestamp_ms)

    @property
    def type(self) -> str:
        """The CloudEvents type, e.g. ``video.job.submitted``."""
        return self.event.type

    @property
    def subject(self) -> str:
        """The CloudEvents subject: the job id."""
        return self.event.job_id


(
    _set_event,
    _set_source,
    _set_id,
    _set_time,
    _set_correlation_id,
    _set_topic,
    _set_partition,
    _set_offset,
    _set_timestamp_ms,
) = (vars(Envelope)[f.name].__set__ for f in fields(Envelope))


def new_envelope(event: Event, *, source: str, correlation_id: str | None = None) -> Envelope:
    """Wrap ``event`` with a fresh id and the current UTC time."""
    return Envelope(event=event, source=source, correlation_id=correlation_id)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and microseconds, as ``ce_time`` carries it."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def encode(envelope: Envelope) -> KafkaRecord:
    """Turn an envelope into a binary-mode record on the event class's topic."""
    event = envelope.event
    job_id = event.job_id.encode()
    headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", envelope.id.encode()),
        ("ce_type", event.type.encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_time", format_time(envelope.time).encode()),
        ("ce_subject", job_id),
        ("ce_schemaversion", str(event.schema_version).encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if envelope.correlation_id is not None:
        headers.append(("correlation_id", envelope.correlation_id.encode()))
    # model_dump_json is compact and equals json.dumps(model_dump(mode="json")) without spaces.
    return KafkaRecord(
        topic=event.topic, key=job_id, value=event.model_dump_json().encode(), headers=headers
    )


def decode(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    timestamp_ms: int | None = None,
) -> Envelope:
    """Read a binary-mode record; raise ``DecodeError`` (only) when it cannot be read.

    The key is accepted for symmetry with ``encode`` but not checked: the subject header and
    the data's ``job_id`` are what identify the job.
    """
    raw = dict(headers)  # the last value wins if a header is repeated
    cls, current_version = _event_class(raw)
    event_id, source, moment = _attributes(raw)
    if value is None:
        raise DecodeError("missing_value", "record has no value (tombstone)")
    # The current version as producers spell it needs no parsing; anything else (no header
    # = v1, an old version to upcast, "02", a bad header) is parsed and checked.
    same = raw.get("ce_schemaversion") == current_version
    event = _event(cls, cls.schema_version if same else _version(raw, cls), value)
    subject = raw.get("ce_subject")
    if subject is not None and subject != event.job_id.encode():
        raise DecodeError("subject_mismatch", f"ce_subject {subject!r} != job_id {event.job_id!r}")
    correlation = raw.get("correlation_id")
    return Envelope(
        event=event,
        source=source,
        id=event_id,
        time=moment,
        correlation_id=None if correlation is None else _utf8("correlation_id", correlation),
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
    )


def _event_class(raw: dict[str, bytes | None]) -> tuple[type[Event], bytes]:
    """The class ``ce_type`` names and its current ``ce_schemaversion`` bytes."""
    if raw.get("ce_specversion") != _SPEC_VERSION_BYTES:
        specversion = _text(raw, "ce_specversion")  # missing or not UTF-8 are reported first
        raise DecodeError("bad_specversion", f"ce_specversion {specversion!r} is not '1.0'")
    type_bytes = raw.get("ce_type")
    if not type_bytes:
        raise DecodeError("missing_header", "header 'ce_type' is missing")
    current = _CURRENT_BY_TYPE.get(type_bytes)
    if current is None:
        raise DecodeError("unknown_type", f"unknown event type {type_bytes!r}")
    return current


def _attributes(raw: dict[str, bytes | None]) -> tuple[str, str, datetime]:
    """``ce_id``, ``ce_source`` and ``ce_time`` (in UTC), after checking ``content-type``."""
    id_bytes, source_bytes, time_bytes = raw.get("ce_id"), raw.get("ce_source"), raw.get("ce_time")
    texts: tuple[str, str, str] | None = None
    if id_bytes and source_bytes and time_bytes:
        try:
            texts = id_bytes.decode(), source_bytes.decode(), time_bytes.decode()
        except UnicodeDecodeError:
            texts = None
    if texts is None:  # one is missing, empty or not UTF-8: say which, in header order
        texts = _text(raw, "ce_id"), _text(raw, "ce_source"), _text(raw, "ce_time")
    event_id, source, time_text = texts
    moment = _time(time_text)
    content_type = raw.get("content-type")
    if content_type is not None and not content_type.startswith(b"application/json"):
        raise DecodeError("bad_header", f"content-type {content_type!r} is not JSON")
    return event_id, source, moment


def dead_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    error: DecodeError,
    *,
    topic: str,
    partition: int,
    offset: int,
) -> KafkaRecord:
    """A record for ``video.jobs.dlq``: the original bytes plus ``dlq_*`` headers saying why.

    A null key, value or header value becomes ``b""``: the DLQ is for humans and replay tools,
    and ``KafkaRecord`` carries bytes only.
    """
    kept = [(name, b"" if data is None else data) for name, data in headers]
    kept += [
        ("dlq_error", error.message.encode("utf-8", "replace")[:_MAX_DLQ_MESSAGE]),
        ("dlq_reason", error.reason.encode()),
        ("dlq_source_topic", topic.encode()),
        ("dlq_source_partition", str(partition).encode()),
        ("dlq_source_offset", str(offset).encode()),
    ]
    return KafkaRecord(topic=JOBS_DLQ.name, key=key or b"", value=value or b"", headers=kept)


def _utf8(name: str, data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_header", f"header {name!r} is not UTF-8") from exc


def _text(raw: dict[str, bytes | None], name: str) -> str:
    data = raw.get(name)
    if not data:
        raise DecodeError("missing_header", f"header {name!r} is missing or empty")
    return _utf8(name, data)


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DecodeError("bad_header", f"ce_time {text!r} is not RFC 3339") from exc
    if moment.tzinfo is UTC:  # what our producers write ("Z")
        return moment
    if moment.utcoffset() is None:
        raise DecodeError("bad_header", f"ce_time {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _version(raw: dict[str, bytes | None], cls: type[Event]) -> int:
    data = raw.get("ce_schemaversion")
    if data is None:
        return 1  # producers before versioning did not send the extension
    try:
        version = int(data)
    except ValueError as exc:
        raise DecodeError("bad_header", f"ce_schemaversion {data!r} is not an integer") from exc
    if version < 1:
        raise DecodeError("bad_header", f"ce_schemaversion {version} is below 1")
    if version > cls.schema_version:
        raise DecodeError(
            "unsupported_version",
            f"{cls.type} v{version} is newer than this code (v{cls.schema_version})",
        )
    return version


def _event(cls: type[Event], version: int, value: bytes) -> Event:
    if version == cls.schema_version:
        # Fast path: pydantic parses and validates straight from bytes in Rust.
        try:
            return cls.model_validate_json(value)
        except ValidationError as exc:
            raise _validation_error(cls, exc) from exc
    try:
        payload = json.loads(value)
    except (ValueError, RecursionError) as exc:  # includes JSON and Unicode decode errors
        raise DecodeError("bad_json", f"value is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise DecodeError("invalid_data", f"{cls.type} data is not a JSON object")
    data: dict[str, Any] = payload
    for step in range(version, cls.schema_version):
        upcast = UPCASTERS.get((cls.type, step))
        if upcast is None:
            raise DecodeError("unsupported_version", f"no upcaster for {cls.type} v{step}")
        try:
            data = upcast(data)
        except (LookupError, TypeError, ValueError) as exc:
            raise DecodeError("invalid_data", f"cannot upcast {cls.type} v{step}: {exc}") from exc
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(cls, exc) from exc


def _validation_error(cls: type[Event], exc: ValidationError) -> DecodeError:
    problems = exc.errors(include_url=False, include_input=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return DecodeError("bad_json", f"value is not JSON: {problems[0]['msg']}")
    detail = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['msg']}"
        for problem in problems[:5]
    )
    return DecodeError("invalid_data", f"{cls.type} data is invalid: {detail}")
