"""Notifier event ids: a cursor minted by one instance resumes exactly on another."""

from __future__ import annotations

import random

import pytest

from services.notifier import cursor


def test_round_trip_and_rejects() -> None:
    offsets = [[0, 4, 0], [12, 0]]
    text = cursor.encode(offsets)
    assert text == "1:0,4,0:12,0"
    assert cursor.decode(text, [3, 2]) == offsets
    assert cursor.decode("1:0,4:12", [3, 2]) == [[0, 4, 0], [12, 0]]  # missing: offset 0
    for bad in ("", "2:0:0", "1:x:0", "1:-1:0", "1:0,0,0,0:0", "1:0"):
        assert cursor.decode(bad, [3, 2]) is None, bad


def _hub_order(log: dict[int, list[int]], rng: random.Random) -> list[tuple[int, int]]:
    """One instance's delivery order: each partition in offset order, interleaved at random."""
    heads = {p: 0 for p in log}
    order = []
    while any(heads[p] < len(log[p]) for p in log):
        p = rng.choice([p for p in log if heads[p] < len(log[p])])
        order.append((p, log[p][heads[p]]))
        heads[p] += 1
    return order


def test_resuming_on_another_instance_is_the_exact_complement() -> None:
    rng = random.Random(7)
    log = {p: sorted(rng.sample(range(50), 12)) for p in range(3)}  # gaps: compaction
    matching = {(p, o) for p in log for o in log[p] if rng.random() < 0.5}
    first, second = _hub_order(log, rng), _hub_order(log, rng)
    position = [[0, 0, 0]]
    for cut in range(len(first)):
        p, o = first[cut]
        position[0][p] = o + 1
        resumed_from = cursor.decode(cursor.encode(position), [3])
        assert resumed_from is not None
        got = [r for r in first[: cut + 1] if r in matching]
        rest = [(q, n) for q, n in second if n >= resumed_from[0][q] and (q, n) in matching]
        assert sorted(got + rest) == sorted(matching) and not set(got) & set(rest)


def test_merge_and_dominates() -> None:
    assert cursor.merge([[1, 5]], [[3, 2]]) == [[3, 5]]
    assert cursor.dominates([[3, 5]], [[3, 2]]) and not cursor.dominates([[3, 1]], [[3, 2]])


def test_copy_is_independent() -> None:
    offsets = [[1, 2], [3]]
    copied = cursor.copy(offsets)
    copied[0][0] = 9
    assert copied == [[9, 2], [3]] and offsets == [[1, 2], [3]]


@pytest.mark.parametrize(
    "other",
    [[[1, 2]], [[1, 2, 3], [3]], [[1], [3]]],
    ids=["a topic missing", "a partition more", "a partition less"],
)
def test_cursors_of_different_layouts_are_never_compared(other: list[list[int]]) -> None:
    # a layout change (partitions added) must not be read as "behind" or "ahead"
    with pytest.raises(ValueError, match="zip"):
        cursor.merge([[1, 2], [3]], other)
    with pytest.raises(ValueError, match="zip"):
        cursor.dominates([[1, 2], [3]], other)


def test_behind_counts_the_records_a_cursor_lacks() -> None:
    ring = [[5, 0, 7], [100]]
    assert cursor.behind([[5, 0, 7], [100]], ring) == 0
    assert cursor.behind([[9, 3, 8], [200]], ring) == 0, "ahead counts nothing"
    assert cursor.behind([[0, 0, 0], [0]], ring) == 112, "1:: lacks everything"
    assert cursor.behind([[4, 0, 9], [90]], ring) == 11
