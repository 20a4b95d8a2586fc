"""The projector's ``decode_record``: ``decode`` plus UUID checks by pattern, equal to parsing."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import ConsumerRecord

from schemas.envelope import DecodeError, Envelope, KafkaRecord, decode, encode
from schemas.events import EVENT_TYPES, JobProgress, JobStarted, JobSubmitted
from schemas.examples import EXAMPLE_EVENTS, JOB_ID, LEGACY_EXAMPLES
from services.projector.decoding import decode_record
from services.projector.rows import history_id

Headers = list[tuple[str, bytes | None]]


def reference(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    """``decode``, then the ids checked by parsing them with ``uuid``."""
    envelope = decode(
        record.key,
        record.value,
        list(record.headers or ()),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
    )
    event = envelope.event
    ids = [event.job_id]
    if isinstance(event, JobSubmitted):
        ids += [event.user_id] + ([] if event.batch_id is None else [event.batch_id])
    for value in ids:
        try:
            uuid.UUID(value)
        except ValueError:
            raise DecodeError("invalid_data", "not a UUID") from None
    return envelope


def consumer_record(value: bytes | None, headers: Headers) -> ConsumerRecord[bytes, bytes]:
    fields = ("p.video.jobs", 3, 42, 1700, 0, b"k", value, None, 1, 0, tuple(headers))
    return ConsumerRecord(*fields)


def outcome(record: ConsumerRecord[bytes, bytes], function: object) -> object:
    try:
        return function(record)  # type: ignore[operator]
    except DecodeError as exc:
        return ("refused", exc.reason, exc.message if function is not reference else None)


def with_header(record: KafkaRecord, name: str, value: bytes | None) -> Headers:
    return [*without(record, name), (name, value)]


def without(record: KafkaRecord, name: str) -> Headers:
    return [(k, v) for k, v in record.headers if k != name]


def cases() -> list[tuple[str, bytes | None, Headers]]:
    started = encode(Envelope(event=EXAMPLE_EVENTS[JobStarted], source="/t", id="e-1"))
    found: list[tuple[str, bytes | None, Headers]] = []
    for cls in EVENT_TYPES:
        r = encode(Envelope(event=EXAMPLE_EVENTS[cls], source="/t", correlation_id="c"))
        found.append((cls.type, r.value, list(r.headers)))
    for (event_type, version), payload in LEGACY_EXAMPLES.items():
        r = encode(Envelope(event=EXAMPLE_EVENTS[JobSubmitted], source="/t"))
        headers = with_header(r, "ce_schemaversion", str(version).encode())
        found.append((f"{event_type} v{version}", json.dumps(payload).encode(), headers))
    v, h = started.value, without(started, "")
    odd: dict[str, tuple[bytes | None, Headers]] = {
        "no value": (None, h),
        "bad json": (b"{nope", h),
        "invalid data": (b'{"job_id": "x"}', h),
        "not a uuid": (v.replace(JOB_ID.encode(), b"job-1"), without(started, "ce_subject")),
        "upper-case uuid": (v.replace(JOB_ID.encode(), JOB_ID.upper().encode()), h[:5]),
        "subject mismatch": (v, with_header(started, "ce_subject", b"other")),
        "no subject": (v, without(started, "ce_subject")),
        "no version": (v, without(started, "ce_schemaversion")),
        "version 02": (v, with_header(started, "ce_schemaversion", b"02")),
        "version 9": (v, with_header(started, "ce_schemaversion", b"9")),
        "version x": (v, with_header(started, "ce_schemaversion", b"x")),
        "version 0": (v, with_header(started, "ce_schemaversion", b"0")),
        "no specversion": (v, without(started, "ce_specversion")),
        "specversion 0.3": (v, with_header(started, "ce_specversion", b"0.3")),
        "unknown type": (v, with_header(started, "ce_type", b"video.job.exploded")),
        "no type": (v, without(started, "ce_type")),
        "empty id": (v, with_header(started, "ce_id", b"")),
        "null id": (v, with_header(started, "ce_id", None)),
        "non-utf8 id": (v, with_header(started, "ce_id", b"\xff")),
        "no source": (v, without(started, "ce_source")),
        "bad time": (v, with_header(started, "ce_time", b"yesterday")),
        "naive time": (v, with_header(started, "ce_time", b"2025-01-01T00:00:00")),
        "offset time": (v, with_header(started, "ce_time", b"2025-01-01T02:00:00+02:00")),
        "text content": (v, with_header(started, "content-type", b"text/plain")),
        "json charset": (v, with_header(started, "content-type", b"application/json; utf-8")),
        "no content-type": (v, without(started, "content-type")),
        "non-utf8 correlation": (v, with_header(started, "correlation_id", b"\xfe")),
        "repeated type": (v, [*h, ("ce_type", b"video.job.exploded")]),
        "progress": (
            encode(Envelope(event=EXAMPLE_EVENTS[JobProgress], source="/t")).value,
            with_header(started, "ce_type", JobProgress.type.encode()),
        ),
    }
    return found + [(name, value, headers) for name, (value, headers) in odd.items()]


@pytest.mark.parametrize(("name", "value", "headers"), cases(), ids=lambda c: str(c)[:40])
def test_decode_record_equals_decode_and_uuid_parsing(
    name: str, value: bytes | None, headers: Headers
) -> None:
    record = consumer_record(value, headers)
    expected, got = outcome(record, reference), outcome(record, decode_record)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and got[:2] == expected[:2], name
    else:
        assert got == expected, name


@pytest.mark.parametrize(
    "event_id", [str(uuid.uuid4()), str(uuid.uuid4()).upper(), "{" + "a" * 32 + "}", "e-1", ""]
)
def test_history_id_is_the_uuid_or_its_uuid5(event_id: str) -> None:
    namespace = uuid.UUID("0d6f8f5e-4a56-4c1e-9d1b-6c0b8f7f6a10")
    try:
        expected = str(uuid.UUID(event_id)) if len(event_id) == 36 else None
    except ValueError:
        expected = None
    assert history_id(event_id) == (expected or str(uuid.uuid5(namespace, event_id)))
