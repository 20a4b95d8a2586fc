"""Property-based fuzzing of the parsers that read untrusted bytes: the multipart reader, the
CloudEvents decoder and the options validator. Each may refuse its input only with its own
typed error. Briefly here (``FUZZ_EXAMPLES``, default 40); ``make fuzz`` runs thousands."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import DecodeError, decode
from schemas.options import InvalidOptions, parse_options
from services.core.http.errors import ApiError
from services.ingest.uploads.multipart import MultipartReader, boundary_of

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
BOUNDARY = b"fuzzboundary"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
option_keys = st.sampled_from(
    ["preset", "format", "width", "height", "fps", "crf", "video_codec", "audio_codec",
     "video_bitrate", "audio_bitrate", "trim_start", "trim_end", "ladder", "x"]
)  # fmt: skip


def _part(name: bytes, body: bytes, filename: bytes | None) -> bytes:
    disposition = b'form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + body


multipart_bodies = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda parts, tail, cut: (b"\r\n".join(parts) + tail)[:cut],
        st.lists(
            st.builds(
                _part,
                st.sampled_from([b"file", b"options", b"x", b""]),
                st.binary(max_size=60),
                st.none() | st.binary(max_size=20),
            ),
            max_size=3,
        ),
        st.sampled_from([b"\r\n--" + BOUNDARY + b"--\r\n", b"", b"--" + BOUNDARY]),
        st.integers(min_value=0, max_value=600),
    ),
)


async def _read_all(body: bytes, chunk: int) -> None:
    async def stream() -> AsyncIterator[bytes]:
        for at in range(0, len(body), chunk):
            yield body[at : at + chunk]

    reader = MultipartReader(stream(), BOUNDARY)
    while (part := await reader.next_part()) is not None:
        if part.name == "file":
            async for _ in reader.chunks():
                pass
        else:
            await reader.read_small(100)


@FUZZ
@given(multipart_bodies, st.integers(min_value=1, max_value=64))
def test_multipart_reader_refuses_only_with_4xx(body: bytes, chunk: int) -> None:
    try:
        asyncio.run(_read_all(body, chunk))
    except ApiError as exc:
        assert 400 <= exc.status < 500 and exc.message


@FUZZ
@given(st.none() | st.text(max_size=80))
def test_boundary_of_any_content_type(content_type: str | None) -> None:
    try:
        assert boundary_of(content_type)
    except ApiError as exc:
        assert 400 <= exc.status < 500


headers = st.lists(
    st.tuples(
        st.sampled_from(["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time",
                         "content-type", "ce_correlationid", "x"]),
        st.none() | st.binary(max_size=40),
    ),
    max_size=8,
)  # fmt: skip


@FUZZ
@given(st.none() | st.binary(max_size=40), st.none() | st.binary(max_size=300), headers)
def test_envelope_decode_refuses_only_with_decode_error(
    key: bytes | None, value: bytes | None, found: list[tuple[str, bytes | None]]
) -> None:
    try:
        decode(key, value, found, topic="video.jobs", partition=0, offset=0)
    except DecodeError as exc:
        assert exc.reason and exc.message


@FUZZ
@given(st.none() | st.text(max_size=20) | st.dictionaries(option_keys, json_values, max_size=6))
def test_options_refuse_only_with_invalid_options(raw: Any) -> None:
    try:
        options = parse_options(raw)
    except InvalidOptions as exc:
        assert str(exc)
        return
    assert parse_options(options.to_event_dict()) == options  # what is stored parses again


def test_regression_non_latin1_content_type_is_415() -> None:
    try:
        boundary_of("\u0101")
    except ApiError as exc:
        assert exc.status == 415
    else:
        raise AssertionError("accepted")


def test_regression_unhashable_option_values_are_invalid_options() -> None:
    for raw in ({"format": []}, {"format": {}}, {"preset": []}, {"video_codec": [1]}):
        try:
            parse_options(raw)
        except InvalidOptions:
            continue
