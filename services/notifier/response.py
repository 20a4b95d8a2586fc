"""The HTTP side of one stream: sse-starlette's response, run as one lean loop per connection.

sse-starlette's ``EventSourceResponse.__call__`` runs four tasks in an anyio task group per
stream (the body, a ping timer, a disconnect listener, a shutdown listener), with a lock and
events of their own: ~20 KiB per connection. Here one loop (the request's own task) writes
frames, one small task waits for the client to leave, and the hub does for every stream at
once what the others did per stream (heartbeats, watching ``AppStatus.should_exit``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import ClassVar

from sse_starlette import EventSourceResponse
from sse_starlette.sse import AppStatus, SendTimeoutError
from starlette.types import Message, Receive, Scope, Send

from services.notifier import cursor
from services.notifier.admission import jittered, retry_frame
from services.notifier.dependencies import Dependencies
from services.notifier.metrics import CONNECTED_CLIENTS
from services.notifier.stream import live_frame, opening_frames
from services.notifier.subscriber import Subscriber

# sse-starlette's headers (text/event-stream, Cache-Control: no-store, X-Accel-Buffering: no,
# Connection: keep-alive), built once and shared by every stream.
_HEADERS = EventSourceResponse(iter(())).raw_headers
_OPENING_CHUNK = 32 * 1024  # the opening (snapshot or replay) is sent in chunks of this size


class LiveEventSource(EventSourceResponse):
    """An SSE stream of one subscriber: opening frames, then live entries until it ends.

    It ends when the client leaves, the hub drops it (queue full), or the server shuts down
    (``AppStatus.should_exit``); a send that waits longer than ``send_timeout_s`` raises
    sse-starlette's ``SendTimeoutError`` and the server closes the connection.
    """

    # No per-stream state beyond these: EventSourceResponse.__init__ is deliberately not
    # called (it builds a lock, headers and settings for the four-task __call__ replaced here).
    __slots__ = ("_runtime", "_sub", "gate", "resume_from")
    raw_headers: ClassVar[list[tuple[bytes, bytes]]] = _HEADERS  # type: ignore[misc]

    def __init__(
        self, deps: Dependencies, sub: Subscriber, resume_from: cursor.Offsets | None
    ) -> None:
        self._runtime = deps
        self._sub = sub
        self.resume_from = resume_from
        self.gate = deps.admission  # the gate whose slot it holds until its opening is sent

    @property
    def principal(self) -> str:
        """The user whose token opened the stream."""
        return self._sub.principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "HEAD":  # headers only, as sse-starlette answers HEAD
            self.gate.leave()
            await EventSourceResponse(iter(()))(scope, receive, send)
            return
        deps, sub = self._runtime, self._sub
        config = deps.config
        admitted = True  # holds one of ``self.gate``'s slots until the opening is sent
        listener = asyncio.get_running_loop().create_task(_watch_disconnect(receive, sub))
        CONNECTED_CLIENTS.inc()
        # Subscribing and unsubscribing around the whole response: no entry slips in between.
        attachment = deps.hub.subscribe(sub, with_recent=self.resume_from is not None)
        try:
            await self._send(send, {"type": "http.response.start", "status": 200})
            # clients cut off together (a crash) come back spread over the jitter window
            retry = retry_frame(jittered(config.retry_ms, config.retry_jitter_ms))
            await self._send_opening(
                send, retry, opening_frames(deps, sub, attachment, self.resume_from)
            )
            del attachment  # its copies of the ring and positions are not needed any more
            self.resume_from = None
            admitted = False
            self.gate.leave()
            await self._live(send)
            # the farewell and the end of the body in one write: 10,000 streams end at once
            last = self._farewell() if AppStatus.should_exit and not sub.ended else b""
            await self._send(send, {"type": "http.response.body", "body": last, "more_body": False})
        finally:
            if admitted:
                self.gate.leave()
            listener.cancel()
            deps.hub.unsubscribe(sub)
            CONNECTED_CLIENTS.dec()

    def _farewell(self) -> bytes:
        """On shutdown: come back after ``retry_ms`` plus a random share of the window, from
        the hub's position when nothing is queued (the next instance resumes it from its ring)."""
        sub, hub = self._sub, self._runtime.hub
        config = self._runtime.config
        frame = f"retry: {int(jittered(config.retry_ms, config.shutdown_window_s * 1000))}\n"
        if not sub.queue and sub.floor is None:
            frame += f"id: {cursor.encode(hub.position)}\n"
        return (frame + "\n").encode()

    async def _send_opening(
        self, send: Send, first: bytes, frames: AsyncGenerator[bytes, None]
    ) -> None:
        # a method of its own: nothing of the opening stays referenced from __call__'s frame
        pending = [first]  # frames go out together (fewer sends per connection), in order
        size = len(first)
        async with contextlib.aclosing(frames):
            async for frame in frames:
                if self._sub.ended:
                    return
                pending.append(frame)
                size += len(frame)
                if size >= _OPENING_CHUNK:
                    await self._send_body(send, b"".join(pending))
                    pending, size = [], 0
        if pending:
            await self._send_body(send, b"".join(pending))

    async def _live(self, send: Send) -> None:
        sub, hub = self._sub, self._runtime.hub
        while not (sub.ended or AppStatus.should_exit):
            if sub.queue:
                frame = live_frame(sub, sub.queue.pop(0), hub.layout)
                if frame is not None:
                    await self._send_body(send, frame)
            elif sub.ping_due:  # nothing queued: the hub's position is this client's cursor
                if sub.floor is not None and cursor.dominates(hub.position, sub.floor):
                    sub.floor = None  # the hub caught up with where the client resumed
                await self._send_body(
                    send, hub.heartbeat if sub.floor is not None else hub.heartbeat_with_id
                )
            else:
                await sub.wait()

    async def _send_body(self, send: Send, frame: bytes) -> None:
        await self._send(send, {"type": "http.response.body", "body": frame, "more_body": True})

    async def _send(self, send: Send, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = self.raw_headers
        try:
            async with asyncio.timeout(self._runtime.config.send_timeout_s):
                await send(message)
        except TimeoutError:
            raise SendTimeoutError from None
        sub = self._sub
        sub.last_sent = asyncio.get_running_loop().time()
        sub.ping_due = False


async def _watch_disconnect(receive: Receive, sub: Subscriber) -> None:
    """The one extra task per stream: ASGI tells of a client leaving only through receive()."""
    while (await receive())["type"] != "http.disconnect":
        pass
    sub.closed = True
    sub.wake()
