"""Resumable positions in the log: what every SSE event id encodes.

A cursor holds, for each partition of ``video.jobs`` and ``video.progress``, the next offset
the client has *not* been sent. The stream a client saw up to an event is exactly "every
matching record below the cursor", so resuming from the cursor on any notifier instance
replays the records at or above it, and nothing else. Offsets are positions in the shared
log, which is why an id minted by one instance is understood by every other.

Text form: ``1:<jobs offsets>:<progress offsets>``, each list comma-separated in partition
order, e.g. ``1:0,4,0,7:12,0,3,0``. Partitions missing from an id count as offset 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.topics import JOBS, PROGRESS

VERSION = "1"
TOPICS: tuple[str, ...] = (JOBS.name, PROGRESS.name)
"""Logical topics a cursor covers, in the order of its offset lists."""

Offsets = list[list[int]]
"""``offsets[topic_index][partition]``: the next offset not yet delivered."""


def encode(offsets: Sequence[Sequence[int]]) -> str:
    """The SSE ``id`` for a position."""
    return VERSION + ":" + ":".join(",".join(map(str, parts)) for parts in offsets)


def decode(text: str, layout: Sequence[int]) -> Offsets | None:
    """Parse an id against ``layout`` (partition count per topic); ``None`` if it is not one."""
    version, _, rest = text.strip().partition(":")
    groups = rest.split(":")
    if version != VERSION or len(groups) != len(layout):
        return None
    offsets: Offsets = []
    for group, count in zip(groups, layout, strict=True):
        try:
            parts = [int(part) for part in group.split(",")] if group else []
        except ValueError:
            return None
        if any(part < 0 for part in parts) or len(parts) > count:
            return None
        offsets.append(parts + [0] * (count - len(parts)))
    return offsets


def copy(offsets: Offsets) -> Offsets:
    """An independent copy (positions are mutated in place as records pass)."""
    return [list(parts) for parts in offsets]


def merge(first: Offsets, second: Offsets) -> Offsets:
    """Element-wise maximum: what a client has seen after two overlapping cuts."""
    return [
        [max(a, b) for a, b in zip(x, y, strict=True)] for x, y in zip(first, second, strict=True)
    ]


def dominates(first: Offsets, second: Offsets) -> bool:
    """True when ``first`` is at or beyond ``second`` on every partition."""
    return all(
        a >= b for x, y in zip(first, second, strict=True) for a, b in zip(x, y, strict=True)
    )


def behind(first: Offsets, second: Offsets) -> int:
    """How many records ``first`` lacks to reach ``second`` (summed over partitions)."""
    return sum(
        max(0, b - a) for x, y in zip(first, second, strict=True) for a, b in zip(x, y, strict=True)
    )
