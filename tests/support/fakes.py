"""In-memory fakes of vidpipe's own ports, for the fast tiers: an event publisher that keeps what
it is given, and a clock that moves only when told. Wired through the same ``bootstrap`` (or
constructor) as the real Kafka publisher and system clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from schemas.envelope import Envelope
from schemas.events import Event


class InMemoryPublisher:
    """``EventPublisher`` that records envelopes in order; positions are one partition's offsets."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.spread: list[int] = []

    async def publish(self, envelope: Envelope) -> tuple[int, int]:
        self.envelopes.append(envelope)
        return 0, len(self.envelopes) - 1

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[tuple[int, int]]:
        return [await self.publish(e) for e in envelopes]

    async def publish_spread(
        self, envelopes: Sequence[Envelope], keys: Sequence[bytes], spread: Sequence[int]
    ) -> None:
        self.envelopes.extend(envelopes)
        self.spread.extend(spread)

    @property
    def events(self) -> list[Event]:
        return [e.event for e in self.envelopes]

    def types(self) -> list[str]:
        """The CloudEvents types published, in order (``video.job.started``, ...)."""
        return [e.type for e in self.envelopes]


class FixedClock:
    """A clock standing still at ``start`` until ``advance`` moves it."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
