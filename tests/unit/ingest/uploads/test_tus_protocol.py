"""The tus header rules, without any server."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.http.tus_protocol import (
    BeyondLength,
    OffsetMismatch,
    TusHeaderError,
    UnsupportedChecksum,
    format_metadata,
    http_date,
    parse_checksum,
    parse_integer,
    parse_metadata,
    patch_budget,
    upload_fields,
)

KEYS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=","),
    min_size=1,
    max_size=20,
)


@given(st.dictionaries(KEYS, st.binary(max_size=200), max_size=8))
def test_metadata_round_trips(pairs: dict[str, bytes]) -> None:
    assert parse_metadata(format_metadata(pairs)) == pairs


def test_metadata_as_clients_send_it() -> None:
    header = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential, options e30="
    assert parse_metadata(header) == {
        "filename": b"world_domination_plan.pdf",
        "is_confidential": b"",
        "options": b"{}",
    }
    assert parse_metadata(None) == {} and parse_metadata(" ") == {}


@pytest.mark.parametrize(
    "header",
    ["filename !!!", "a Zg==,a Zg==", "bad\tkey Zg==", ",", "k Zg", "k Zg== extra", "x" * 40000],
)
def test_malformed_metadata_is_refused(header: str) -> None:
    with pytest.raises(TusHeaderError):
        parse_metadata(header)


@given(st.text(max_size=60))
def test_metadata_parser_only_raises_its_own_error(header: str) -> None:
    try:
        parse_metadata(header)
    except TusHeaderError:
        pass


def test_upload_fields() -> None:
    batch = "6f1c1d0e-8a39-4f6b-9b1e-2f0f5a1e9c11"
    fields = upload_fields(
        {"name": "clip ü.mp4".encode(), "options": b'{"preset":"h264-480p"}', "batch_id": b""}
    )
    assert (fields.filename, fields.options, fields.batch_id) == (
        "clip ü.mp4",
        b'{"preset":"h264-480p"}',
        None,
    )
    assert upload_fields({"filename": b"a", "name": b"b"}).filename == "a"
    assert upload_fields({"batch_id": batch.upper().encode()}).batch_id == batch
    for bad in ({"batch_id": b"nope"}, {"filename": b"\xff"}):
        with pytest.raises(TusHeaderError):
            upload_fields(bad)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_integers_round_trip(value: int) -> None:
    assert parse_integer(str(value), "Upload-Offset") == value


@pytest.mark.parametrize("raw", [None, "", "-1", "+1", "1.0", "0x10", "1e3", "\uff19", str(2**63)])
def test_bad_integers(raw: str | None) -> None:
    with pytest.raises(TusHeaderError, match="Upload-Length"):
        parse_integer(raw, "Upload-Length")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksums(algorithm: str) -> None:
    body = b"some chunk"
    digest = hashlib.new(algorithm, body).digest()
    checksum = parse_checksum(f"{algorithm} {base64.b64encode(digest).decode()}")
    assert checksum is not None and checksum.algorithm == algorithm
    assert checksum.matches(hashlib.new(algorithm, body))
    assert not checksum.matches(hashlib.new(algorithm, body + b"!"))
    assert parse_checksum(None) is None


def test_bad_checksums() -> None:
    with pytest.raises(UnsupportedChecksum):
        parse_checksum("md5 " + base64.b64encode(hashlib.md5(b"").digest()).decode())
    with pytest.raises(TusHeaderError):
        parse_checksum("sha1 not-base64!")
    with pytest.raises(TusHeaderError, match="not a sha256 digest"):
        parse_checksum("sha256 " + base64.b64encode(b"short").decode())


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.one_of(st.none(), st.integers(0, 10**12)))
def test_patch_budget(stored: int, extra: int, content_length: int | None) -> None:
    length = stored + extra
    if content_length is not None and content_length > extra:
        with pytest.raises(BeyondLength):
            patch_budget(
                stored=stored, length=length, claimed=stored, content_length=content_length
            )
    else:
        budget = patch_budget(
            stored=stored, length=length, claimed=stored, content_length=content_length
        )
        assert budget == extra
    with pytest.raises(OffsetMismatch):
        patch_budget(stored=stored, length=length, claimed=stored + 1, content_length=None)


def test_http_date() -> None:
    assert http_date(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) == "Sat, 01 Mar 2025 12:00:00 GMT"
