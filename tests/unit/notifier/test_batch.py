"""Many concurrent lookups answered by one fetch (pure asyncio, no database)."""

from __future__ import annotations

import asyncio

import pytest

from services.notifier.batch import Batcher
from tests.support.eventually import eventually


class Fetches:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.calls.append(keys)
        await self.release.wait()
        return {key: key.upper() for key in keys if key != "absent"}


async def test_concurrent_gets_share_one_fetch() -> None:
    fetch = Fetches()
    batcher = Batcher[str, str](fetch, "none")
    got = await asyncio.gather(*(batcher.get(k) for k in ["a", "b", "a", "absent"]))
    assert got == ["A", "B", "A", "none"]
    assert fetch.calls == [["a", "b", "absent"]] and batcher.flushes == 1


async def test_keys_arriving_during_a_fetch_form_the_next_batch() -> None:
    fetch = Fetches()
    fetch.release.clear()
    batcher = Batcher[str, str](fetch, "none")
    first = asyncio.gather(*(batcher.get(k) for k in "ab"))
    await eventually(lambda: fetch.calls == [["a", "b"]], message="the first fetch")
    later = asyncio.gather(*(batcher.get(k) for k in "cde"))
    await asyncio.sleep(0)  # one turn of the loop: the three callers join the pending keys
    fetch.release.set()
    assert await first == ["A", "B"] and await later == ["C", "D", "E"]
    assert fetch.calls == [["a", "b"], ["c", "d", "e"]]


async def test_an_idle_batcher_answers_each_caller_alone() -> None:
    fetch = Fetches()
    batcher = Batcher[str, str](fetch, "none")
    assert await batcher.get("a") == "A"
    assert await batcher.get("b") == "B"
    assert fetch.calls == [["a"], ["b"]]


async def test_batches_are_bounded() -> None:
    fetch = Fetches()
    batcher = Batcher[str, str](fetch, "none", max_keys=2)
    await asyncio.gather(*(batcher.get(k) for k in "abcde"))
    assert [len(c) for c in fetch.calls] == [2, 2, 1]


async def test_a_failed_fetch_fails_its_callers_and_not_the_next_batch() -> None:
    calls = 0

    async def flaky(keys: list[str]) -> dict[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return {k: k for k in keys}

    batcher = Batcher[str, str](flaky, "none")
    results = await asyncio.gather(batcher.get("a"), batcher.get("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await batcher.get("c") == "c"


async def test_a_caller_leaving_does_not_cancel_the_others() -> None:
    fetch = Fetches()
    fetch.release.clear()
    batcher = Batcher[str, str](fetch, "none")
    leaving = asyncio.create_task(batcher.get("a"))
    staying = asyncio.create_task(batcher.get("a"))
    await eventually(lambda: fetch.calls == [["a"]], message="the fetch to start")
    leaving.cancel()
    fetch.release.set()
    assert await staying == "A"
    with pytest.raises(asyncio.CancelledError):
        await leaving
