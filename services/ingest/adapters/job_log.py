"""The jobs topic as ingest writes it: publish with acks=all, then wait, bounded, until the
projector has applied what was published, so an answer shows the request's own writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.envelope import Envelope
from services.core.kafka.clients import EventPublisher
from services.ingest.adapters.applied import AppliedWaiter


@dataclass(frozen=True)
class JobLog:
    """Where job events go (uploads' ``submitted``, the commands' events) and how long an
    answer waits to read them back."""

    publisher: EventPublisher
    applied: AppliedWaiter
    topic: str
    """The jobs topic's full name (with the deployment's prefix), as the projector stores it."""
    wait_s: float
    """The bound on read-your-writes (``READ_YOUR_WRITES_TIMEOUT_MS``)."""

    async def publish(self, envelopes: Sequence[Envelope]) -> list[tuple[int, int]]:
        """Publish; the (partition, offset) of each envelope, in order."""
        return await self.publisher.publish_many(envelopes)

    async def projected(self, positions: Sequence[tuple[int, int]]) -> bool:
        """True once the read model shows every position; False when ``wait_s`` runs out."""
        return await self.applied.wait(self.topic, list(positions), self.wait_s)
