"""The CloudEvents binary-mode codec: round trips, headers, errors, upcasting, dead letters."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas.analytics import MinuteAggregate
from schemas.envelope import (
    DecodeError,
    Envelope,
    KafkaRecord,
    dead_letter,
    decode,
    encode,
    new_envelope,
)
from schemas.events import EVENT_TYPES, EVENTS_BY_TYPE, Event, JobProgress, JobStarted, JobSubmitted
from schemas.examples import EXAMPLE_AGGREGATE, EXAMPLE_EVENTS, JOB_ID, LEGACY_EXAMPLES
from schemas.upcasting import LEGACY_PAYLOADS, UPCASTERS, upcast_submitted_v1_v2, upcaster

MOMENT = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
STARTED = EXAMPLE_EVENTS[JobStarted]


def envelope(event: Event = STARTED, correlation_id: str | None = "req-1") -> Envelope:
    return Envelope(
        event=event, source="/vidpipe/test", id="evt-1", time=MOMENT, correlation_id=correlation_id
    )


def without(record: KafkaRecord, name: str) -> list[tuple[str, bytes]]:
    return [(key, value) for key, value in record.headers if key != name]


def replaced(record: KafkaRecord, name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(key, value if key == name else old) for key, old in record.headers]


def replaced_record(record: KafkaRecord, name: str, value: bytes) -> KafkaRecord:
    return KafkaRecord(record.topic, record.key, record.value, replaced(record, name, value))


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLE_EVENTS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", [cls.type for cls in EVENT_TYPES])
def test_round_trip(event_type: str) -> None:
    original = envelope(EXAMPLE_EVENTS[EVENTS_BY_TYPE[event_type]])
    record = encode(original)
    decoded = decode(record.key, record.value, record.headers)
    assert decoded == original
    assert type(decoded.event) is EVENTS_BY_TYPE[event_type]
    assert record.topic == decoded.event.topic


def test_headers_key_and_value() -> None:
    record = encode(envelope())
    assert record.topic == "video.jobs"
    assert record.key == JOB_ID.encode()
    assert record.headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"evt-1"),
        ("ce_type", b"video.job.started"),
        ("ce_source", b"/vidpipe/test"),
        ("ce_time", b"2025-03-04T05:06:07.890123Z"),
        ("ce_subject", JOB_ID.encode()),
        ("ce_schemaversion", b"1"),
        ("content-type", b"application/json"),
        ("correlation_id", b"req-1"),
    ]
    compact = json.dumps(STARTED.model_dump(mode="json"), separators=(",", ":"))
    assert record.value == compact.encode()


def test_progress_goes_to_its_own_topic() -> None:
    assert encode(envelope(EXAMPLE_EVENTS[JobProgress])).topic == "video.progress"


def test_no_correlation_header_when_unset() -> None:
    record = encode(envelope(correlation_id=None))
    assert "correlation_id" not in dict(record.headers)
    assert decode(record.key, record.value, record.headers).correlation_id is None


def test_decode_keeps_the_position() -> None:
    record = encode(envelope())
    decoded = decode(
        record.key,
        record.value,
        record.headers,
        topic="video.jobs",
        partition=3,
        offset=42,
        timestamp_ms=1_700_000_000_000,
    )
    assert (decoded.topic, decoded.partition, decoded.offset) == ("video.jobs", 3, 42)
    assert decoded.timestamp_ms == 1_700_000_000_000


def test_new_envelope_defaults() -> None:
    first = new_envelope(STARTED, source="/vidpipe/ingest")
    second = new_envelope(STARTED, source="/vidpipe/ingest", correlation_id="c")
    assert first.id != second.id
    assert first.time.tzinfo is UTC
    assert second.correlation_id == "c"
    assert first.type == "video.job.started" and first.subject == JOB_ID


def test_time_is_normalised_to_utc_and_naive_rejected() -> None:
    paris = timezone(timedelta(hours=1))
    moved = Envelope(event=STARTED, source="s", time=datetime(2025, 1, 1, 13, tzinfo=paris))
    assert moved.time == datetime(2025, 1, 1, 12, tzinfo=UTC) and moved.time.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        Envelope(event=STARTED, source="s", time=datetime(2025, 1, 1))


RECORD = encode(envelope())
BAD_RECORDS: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = [
    ("unknown_type", RECORD.value, replaced(RECORD, "ce_type", b"video.job.exploded")),
    ("bad_json", b"{not json", RECORD.headers),
    ("bad_json", b"\xff\xfe\x00", RECORD.headers),
    ("invalid_data", b'{"job_id": "j"}', RECORD.headers),
    ("invalid_data", b"[1, 2]", RECORD.headers),
    ("unsupported_version", RECORD.value, replaced(RECORD, "ce_schemaversion", b"2")),
    ("bad_header", RECORD.value, replaced(RECORD, "ce_schemaversion", b"two")),
    ("bad_header", RECORD.value, replaced(RECORD, "ce_schemaversion", b"0")),
    ("bad_header", RECORD.value, replaced(RECORD, "ce_time", b"yesterday")),
    ("bad_header", RECORD.value, replaced(RECORD, "ce_time", b"2025-01-01T00:00:00")),
    ("bad_header", RECORD.value, replaced(RECORD, "ce_source", b"\xff")),
    ("bad_header", RECORD.value, replaced(RECORD, "content-type", b"application/avro")),
    ("bad_specversion", RECORD.value, replaced(RECORD, "ce_specversion", b"0.3")),
    ("missing_header", RECORD.value, []),
    ("missing_header", RECORD.value, replaced(RECORD, "ce_id", b"")),
    ("missing_value", None, RECORD.headers),
    ("subject_mismatch", RECORD.value, replaced(RECORD, "ce_subject", b"other-job")),
]
BAD_RECORDS += [
    ("missing_header", RECORD.value, without(RECORD, name))
    for name in ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time")
]


BAD_RECORDS += [
    ("missing_header", RECORD.value, [(k, None if k == "ce_id" else v) for k, v in RECORD.headers]),
    ("bad_header", RECORD.value, replaced(RECORD, "ce_id", b"\xff")),
    ("bad_header", RECORD.value, [*RECORD.headers, ("correlation_id", b"\xfe")]),
    ("unknown_type", RECORD.value, [*RECORD.headers, ("ce_type", b"video.job.exploded")]),
    ("bad_specversion", RECORD.value, replaced(RECORD, "ce_specversion", b"1.0 ")),
    # several things wrong: the first header in decode's order is the one reported
    (
        "bad_header",
        RECORD.value,
        replaced(replaced_record(RECORD, "ce_source", b"\xff"), "ce_time", b"x"),
    ),
]


@pytest.mark.parametrize(("reason", "value", "headers"), BAD_RECORDS)
def test_bad_records_raise_decode_error(
    reason: str, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(RECORD.key, value, headers)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


ACCEPTED: list[tuple[str, list[tuple[str, bytes]]]] = [
    ("as encoded", RECORD.headers),
    ("offset time", replaced(RECORD, "ce_time", b"2025-03-04T07:06:07.890123+02:00")),
    ("+00:00 time", replaced(RECORD, "ce_time", b"2025-03-04T05:06:07.890123+00:00")),
    ("version 01", replaced(RECORD, "ce_schemaversion", b"01")),
    ("no version (v1)", without(RECORD, "ce_schemaversion")),
    ("no subject", without(RECORD, "ce_subject")),
    ("no content-type", without(RECORD, "content-type")),
    ("json with charset", replaced(RECORD, "content-type", b"application/json; charset=utf-8")),
]


@pytest.mark.parametrize(("name", "headers"), ACCEPTED, ids=[name for name, _ in ACCEPTED])
def test_accepted_spellings_decode_to_the_same_envelope(
    name: str, headers: list[tuple[str, bytes]]
) -> None:
    decoded = decode(RECORD.key, RECORD.value, headers)
    assert decoded == envelope() and decoded.time.tzinfo is UTC, name


def test_only_decode_error_escapes_on_garbage() -> None:
    rng = random.Random(20250101)  # fixed seed: the same garbage every run
    v1_headers = without(encode(envelope(EXAMPLE_EVENTS[JobSubmitted])), "ce_schemaversion")
    for _ in range(500):
        value = bytearray(RECORD.value)
        for _ in range(rng.randint(1, 4)):
            value[rng.randrange(len(value))] = rng.randrange(256)
        for headers in (RECORD.headers, v1_headers):
            try:
                decode(RECORD.key, bytes(value), headers)
            except DecodeError:
                pass


def test_v1_submitted_is_upcast() -> None:
    v1 = LEGACY_EXAMPLES["video.job.submitted", 1]
    headers = without(encode(envelope(EXAMPLE_EVENTS[JobSubmitted])), "ce_schemaversion")
    for version_header in ([], [("ce_schemaversion", b"1")]):
        decoded = decode(JOB_ID.encode(), json.dumps(v1).encode(), headers + version_header)
        event = decoded.event
        assert isinstance(event, JobSubmitted)
        assert event.source_key == v1["file_path"]
        assert event.processing_options == v1["options"]
        assert (event.source_sha256, event.source_size) == ("", 0)
        assert event.user_id == v1["user_id"]


def test_upcaster_does_not_mutate_its_input() -> None:
    v1 = dict(LEGACY_EXAMPLES["video.job.submitted", 1])
    upcast_submitted_v1_v2(v1)
    assert v1 == LEGACY_EXAMPLES["video.job.submitted", 1]


def test_legacy_examples_match_their_models() -> None:
    for key, payload in LEGACY_EXAMPLES.items():
        LEGACY_PAYLOADS[key].model_validate(payload)


def test_every_old_version_has_an_upcaster() -> None:
    for cls in EVENT_TYPES:
        for version in range(1, cls.schema_version):
            assert (cls.type, version) in UPCASTERS, f"{cls.type} v{version} has no upcaster"


def test_upcasters_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="two upcasters"):
        upcaster("video.job.submitted", 1)(upcast_submitted_v1_v2)


def test_dead_letter_keeps_the_original_and_says_why() -> None:
    headers = replaced(RECORD, "ce_type", b"video.job.exploded")
    with pytest.raises(DecodeError) as caught:
        decode(RECORD.key, RECORD.value, headers)
    letter = dead_letter(
        RECORD.key, RECORD.value, headers, caught.value, topic="video.jobs", partition=7, offset=99
    )
    assert letter.topic == "video.jobs.dlq"
    assert (letter.key, letter.value) == (RECORD.key, RECORD.value)
    assert letter.headers[: len(headers)] == headers
    extra = dict(letter.headers[len(headers) :])
    assert extra["dlq_reason"] == b"unknown_type"
    assert b"video.job.exploded" in extra["dlq_error"]
    assert extra["dlq_source_topic"] == b"video.jobs"
    assert (extra["dlq_source_partition"], extra["dlq_source_offset"]) == (b"7", b"99")


def test_dead_letter_of_a_tombstone() -> None:
    error = DecodeError("missing_value", "record has no value (tombstone)")
    letter = dead_letter(None, None, [("x", None)], error, topic="t", partition=0, offset=0)
    assert (letter.key, letter.value, letter.headers[0]) == (b"", b"", ("x", b""))


def test_minute_aggregate_record_round_trip() -> None:
    record = EXAMPLE_AGGREGATE.to_record()
    assert record.topic == "video.analytics"
    assert record.key == b"preset:h264-720p:2025-01-01T12:00:00Z"
    assert record.headers == [("content-type", b"application/json")]
    assert MinuteAggregate.from_record(record.value) == EXAMPLE_AGGREGATE


def test_minute_aggregate_rejects_bad_records() -> None:
    for value, reason in ((b"nope", "bad_json"), (b"{}", "invalid_data"), (None, "missing_value")):
        with pytest.raises(DecodeError) as caught:
            MinuteAggregate.from_record(value)
        assert caught.value.reason == reason
    swapped = EXAMPLE_AGGREGATE.model_dump()
    swapped["window_end"] = swapped["window_start"]
    with pytest.raises(ValueError, match="window_end"):
        MinuteAggregate.model_validate(swapped)
