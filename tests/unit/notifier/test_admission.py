"""Bounded admission of new streams and the jitter that spreads reconnections (pure, no I/O)."""

from __future__ import annotations

import asyncio
import random

from services.notifier.admission import Admission, StreamCounts, jittered, retry_frame


async def test_admits_up_to_the_bound_then_queues_then_refuses() -> None:
    gate = Admission(max_opening=2, max_waiting=1, wait_s=5)
    assert await gate.enter() and await gate.enter()
    waiting = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    assert gate.waiting == 1 and not waiting.done()
    assert await gate.enter() is False, "the queue is full: refused at once"
    gate.leave()  # a stream is set up: its slot goes to the waiter
    assert await waiting is True
    assert gate.opening == 2 and gate.waiting == 0


async def test_a_waiter_is_refused_after_wait_s() -> None:
    gate = Admission(max_opening=1, max_waiting=5, wait_s=0.05)
    assert await gate.enter()
    assert await gate.enter() is False
    assert gate.waiting == 0
    gate.leave()
    assert gate.opening == 0


async def test_slots_go_to_waiters_in_arrival_order() -> None:
    gate = Admission(max_opening=1, max_waiting=5, wait_s=5)
    assert await gate.enter()
    order: list[int] = []

    async def one(n: int) -> None:
        assert await gate.enter()
        order.append(n)

    tasks = [asyncio.create_task(one(n)) for n in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        gate.leave()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    gate.leave()
    assert gate.opening == 0


async def test_a_cancelled_waiter_gives_its_slot_on() -> None:
    gate = Admission(max_opening=1, max_waiting=5, wait_s=5)
    assert await gate.enter()
    gone = asyncio.create_task(gate.enter())
    stays = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    gate.leave()
    assert await stays is True
    assert gate.opening == 1 and gate.waiting == 0


async def test_a_new_caller_does_not_overtake_waiters() -> None:
    gate = Admission(max_opening=1, max_waiting=5, wait_s=5)
    assert await gate.enter()
    first = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # handed to ``first``, not to a newcomer
    late = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    assert await first is True and not late.done()
    gate.leave()
    assert await late is True


def test_jitter_stays_in_its_window_and_spreads() -> None:
    rng = random.Random(7)
    values = [jittered(1000, 4000, rng) for _ in range(1000)]
    assert all(1000 <= v <= 5000 for v in values)
    assert max(values) - min(values) > 3500, "spread over the window, not bunched"
    assert len({int(v) for v in values}) > 800  # 4000 ms wide: few collide


def test_retry_frame_sets_only_the_reconnection_delay() -> None:
    assert retry_frame(2500.7) == b"retry: 2500\n\n"
    assert retry_frame(-3) == b"retry: 0\n\n"


def test_stream_counts_cap_each_key_and_free_on_release() -> None:
    counts = StreamCounts(2)
    assert counts.acquire("alice") and counts.acquire("alice")
    assert counts.acquire("alice") is False, "alice is at her limit"
    assert counts["alice"] == 2, "a refusal counts nothing"
    assert counts.acquire("bob"), "another key is unaffected"
    counts.release("alice")
    assert counts.acquire("alice")
    for _ in range(2):
        counts.release("alice")
    counts.release("bob")
    assert counts["alice"] == counts["bob"] == 0


def test_a_zero_limit_counts_without_refusing() -> None:
    counts = StreamCounts(0)
    assert all(counts.acquire("x") for _ in range(1000))
    assert counts["x"] == 1000
