"""What one stream sends: current state or missed events first, then live entries from the hub.

Pure of HTTP: ``response`` writes these frames to the connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from services.notifier import cursor
from services.notifier.dependencies import Dependencies
from services.notifier.hub import Attachment
from services.notifier.metrics import DELIVERY_LATENCY, EVENTS_DELIVERED
from services.notifier.notifications import from_row, render
from services.notifier.resume import replay
from services.notifier.subscriber import LogEntry, Subscriber

_LIVE = EVENTS_DELIVERED.labels("live")
_REPLAY = EVENTS_DELIVERED.labels("replay")
_SNAPSHOT = EVENTS_DELIVERED.labels("snapshot")


async def opening_frames(
    deps: Dependencies, sub: Subscriber, attachment: Attachment, resume_from: cursor.Offsets | None
) -> AsyncGenerator[bytes, None]:
    """The frames before the live ones: the followed jobs' current state, or what was missed."""
    if resume_from is None:
        rows = await deps.reads.current_states(
            job_id=sub.job_id, user_id=sub.user_id, limit=deps.config.snapshot_limit
        )
        # a fresh stream on a hub still reading its seed starts at the log's end (its floor)
        start = attachment.position if sub.floor is None else sub.floor
        event_id = cursor.encode(start)
        for row in rows:
            _SNAPSHOT.inc()
            yield render(from_row(row), event_id)
        return
    missed = replay(
        sub,
        resume_from,
        attachment,
        reads=deps.reads,
        log_reader=deps.log_reader,
        topics=deps.topics,
    )
    async for frame in missed:
        _REPLAY.inc()
        yield frame
    if sub.floor is None:
        # The client now has everything below the attach position (later entries are queued):
        # an id-only block moves its Last-Event-ID there, so the next resume (say, a second
        # restart soon after) starts inside the ring instead of where it last resumed from.
        yield b"id: " + cursor.encode(attachment.position).encode() + b"\n\n"


def live_frame(sub: Subscriber, entry: LogEntry, layout: list[int]) -> bytes | None:
    """The frame of a queued entry for this subscriber, or ``None`` if it already has it."""
    frame = entry.frame if sub.floor is None else _above_floor(sub, entry, layout)
    if frame is not None:
        DELIVERY_LATENCY.observe(time.time() - entry.note.produced_at)
        _LIVE.inc()
    return frame


def _above_floor(sub: Subscriber, entry: LogEntry, layout: list[int]) -> bytes | None:
    """A client resumed from an instance ahead of this one: skip what it has, merge ids."""
    assert sub.floor is not None
    if entry.offset < sub.floor[entry.topic][entry.partition]:
        return None  # it got this one before it reconnected
    position = cursor.decode(entry.event_id, layout)
    assert position is not None
    if cursor.dominates(position, sub.floor):
        sub.floor = None  # this hub has caught up: shared frames from now on
        return entry.frame
    return render(entry.note, cursor.encode(cursor.merge(sub.floor, position)))
