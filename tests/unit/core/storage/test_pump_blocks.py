"""``pump_blocks``: what ``observe`` sees (each new byte once, in order) whatever the block
boundaries and a carried-over buffer, whose bytes were observed by an earlier append."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.storage.interface import ObjectTooLarge
from services.core.storage.partial import pump_blocks


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@given(
    carried=st.binary(max_size=20),
    parts=st.lists(st.binary(max_size=30), max_size=8),
    flush=st.integers(1, 40),
)
async def test_observe_sees_each_new_byte_once_and_writes_keep_the_rest(
    carried: bytes, parts: list[bytes], flush: int
) -> None:
    seen: list[bytes] = []
    written: list[bytes] = []
    size, rest = await pump_blocks(
        "k",
        _chunks(parts),
        written.append,
        flush_bytes=flush,
        max_bytes=10**6,
        buffer=bytearray(carried),
        observe=lambda block: seen.append(bytes(block)),
    )
    assert b"".join(seen) == b"".join(parts)
    assert b"".join(written) + rest == carried + b"".join(parts)
    assert size == len(b"".join(parts))


async def test_past_max_bytes_is_too_large() -> None:
    with pytest.raises(ObjectTooLarge):
        await pump_blocks("k", _chunks([b"abc", b"de"]), print, flush_bytes=100, max_bytes=4)
