"""Decode records for the projector: ``schemas.envelope.decode`` plus the ids it keys rows by.

There is one decoder (``decode``), written for the projector's throughput; this module only
adds what the read model needs on top of it: ids it can store.
"""

from __future__ import annotations

from aiokafka import ConsumerRecord

from schemas.envelope import DecodeError, Envelope, decode
from schemas.events import JobSubmitted
from services.projector.rows import canonical_uuid, is_canonical_uuid


def _require_uuid(name: str, value: str | None) -> None:
    # The read model keys jobs (and owners) by UUID: anything else could never be stored.
    if value is not None and canonical_uuid(value) is None:
        raise DecodeError("invalid_data", f"{name} {value[:80]!r} is not a UUID")


def decode_record(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    """Decode a record and check the ids the read model needs; ``DecodeError`` otherwise."""
    envelope = decode(
        record.key,
        record.value,
        record.headers or (),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
    )
    event = envelope.event
    if not is_canonical_uuid(event.job_id):
        _require_uuid("job_id", event.job_id)
    if isinstance(event, JobSubmitted):
        _require_uuid("user_id", event.user_id)
        _require_uuid("batch_id", event.batch_id)
    return envelope
