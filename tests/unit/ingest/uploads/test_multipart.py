"""The streaming multipart/form-data reader of ingest, fed bodies in chunks of every size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.core.http.errors import ApiError
from services.ingest.uploads.multipart import (
    MAX_HEADER_SIZE,
    MultipartReader,
    PartHeaders,
    boundary_of,
)

BOUNDARY = b"XyZ"
OPTIONS = b'Content-Disposition: form-data; name="options"'
FILE = b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\nContent-Type: video/mp4'
# data that looks like a delimiter but is not one (the boundary is "XyZ")
TRICKY = b"\r\n--XyQ \r\n--Xy\r\n-" * 50 + bytes(range(256)) * 20


def body(*parts: tuple[bytes, bytes], close: bool = True) -> bytes:
    out = b""
    for headers, data in parts:
        out += b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    return out + (b"--" + BOUNDARY + b"--\r\n" if close else b"")


async def stream(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(data: bytes, size: int = 64) -> list[tuple[PartHeaders, bytes]]:
    reader = MultipartReader(stream(data, size), BOUNDARY)
    parts = []
    while (part := await reader.next_part()) is not None:
        parts.append((part, b"".join([chunk async for chunk in reader.chunks()])))
    return parts


async def refusal(data: bytes, size: int = 64) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await read_all(data, size)
    return caught.value


def test_boundary_of_a_form_body() -> None:
    assert boundary_of("multipart/form-data; boundary=XyZ") == b"XyZ"
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"


@pytest.mark.parametrize(
    "content_type",
    [None, "", "video/mp4", "multipart/form-data", "multipart/mixed; boundary=XyZ"],
)
def test_anything_else_is_415(content_type: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        boundary_of(content_type)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 4096, 1 << 20])
async def test_parts_and_their_bytes_in_order_whatever_the_chunking(size: int) -> None:
    parts = await read_all(body((OPTIONS, b'{"preset": "hls"}'), (FILE, TRICKY)), size)
    assert parts == [
        (PartHeaders("options", None, None), b'{"preset": "hls"}'),
        (PartHeaders("file", "a.mp4", "video/mp4"), TRICKY),
    ]


async def test_file_bytes_are_handed_on_before_the_body_has_arrived() -> None:
    head = body((FILE, b"first bytes"), close=False)[: -len(b"\r\n")]
    delivered = False

    async def slow_client() -> AsyncIterator[bytes]:
        yield head
        assert delivered, "the reader waited for more of the body before handing on data"
        yield b" and the rest\r\n--" + BOUNDARY + b"--\r\n"

    reader = MultipartReader(slow_client(), BOUNDARY)
    assert await reader.next_part() == PartHeaders("file", "a.mp4", "video/mp4")
    chunks = reader.chunks()
    received = await anext(chunks)
    assert b"first bytes".startswith(received) and received
    delivered = True
    rest = b"".join([chunk async for chunk in chunks])
    assert received + rest == b"first bytes and the rest"
    assert await reader.next_part() is None


async def test_unread_parts_are_skipped() -> None:
    reader = MultipartReader(
        stream(body((OPTIONS, b"{}"), (FILE, TRICKY), (OPTIONS, b"last")), 5), BOUNDARY
    )
    names = []
    while (part := await reader.next_part()) is not None:
        names.append(part.name)
    assert names == ["options", "file", "options"]


async def test_empty_body_and_empty_part() -> None:
    assert await read_all(b"") == []
    assert await read_all(body((FILE, b""))) == [(PartHeaders("file", "a.mp4", "video/mp4"), b"")]


async def test_odd_filenames_and_headers() -> None:
    headers = (
        b'content-disposition: form-data; name="file"; filename="\xff clip.mp4"\r\n'
        b"CONTENT-TYPE: video/x-\xe9"
    )
    [(part, data)] = await read_all(body((headers, b"x")))
    assert part == PartHeaders("file", "\ufffd clip.mp4", "video/x-\xe9")
    assert data == b"x"
    [(nameless, _)] = await read_all(body((b"Content-Type: text/plain", b"y")))
    assert nameless == PartHeaders("", None, "text/plain")


@pytest.mark.parametrize("size", [1, 10, 64])
async def test_a_body_that_ends_mid_part_is_400(size: int) -> None:
    whole = body((OPTIONS, b"{}"), (FILE, TRICKY))
    file_data = whole.index(b"video/mp4") + len(b"video/mp4\r\n\r\n")
    for cut in (len(whole) - 30, file_data + 1, file_data, whole.index(b"{}") + 1):
        error = await refusal(whole[:cut], size)
        assert (error.status, error.code) == (400, "bad_multipart"), cut
        assert "ended in the middle of a part" in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"not multipart at all",
        b"--other\r\n" + OPTIONS + b"\r\n\r\n{}\r\n--other--\r\n",
        body((OPTIONS, b"{}")).replace(b"--XyZ\r\n", b"--XyZ!!\r\n", 1),
    ],
    ids=["garbage", "another boundary", "junk after the boundary"],
)
async def test_malformed_bodies_are_400(data: bytes) -> None:
    error = await refusal(data)
    assert (error.status, error.code) == (400, "bad_multipart")
    assert error.message.startswith("malformed multipart body")


async def test_headers_are_bounded() -> None:
    fine = b'Content-Disposition: form-data; name="file"; filename="' + b"a" * 60_000 + b'"'
    [(part, _)] = await read_all(body((fine, b"x")))
    assert part.filename == "a" * 60_000
    huge = fine.replace(b"a" * 60_000, b"a" * MAX_HEADER_SIZE)
    assert (await refusal(body((huge, b"x")))).code == "bad_multipart"


async def test_read_small_reads_a_field_up_to_its_limit() -> None:
    reader = MultipartReader(stream(body((OPTIONS, b"x" * 100), (FILE, b"y")), 7), BOUNDARY)
    await reader.next_part()
    assert await reader.read_small(100) == b"x" * 100
    assert (await reader.next_part() or PartHeaders("", None, None)).name == "file"
    assert await reader.read_small(1) == b"y"

    reader = MultipartReader(stream(body((OPTIONS, b"x" * 101)), 7), BOUNDARY)
    await reader.next_part()
    with pytest.raises(ApiError) as caught:
        await reader.read_small(100)
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
