"""The topic catalogue: every topic vidpipe uses, created idempotently at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Topic:
    """A Kafka topic and the settings it is created with."""

    name: str
    partitions: int
    description: str
    key: str = "job id (UTF-8)"
    config: dict[str, str] = field(default_factory=dict)


JOBS = Topic(
    name="video.jobs",
    partitions=12,
    description="Source of truth: every lifecycle event of every job, keyed by job id.",
    config={"cleanup.policy": "delete", "retention.ms": "-1"},
)
PROGRESS = Topic(
    name="video.progress",
    partitions=12,
    description="Progress ticks, keyed by job id; compacted, short retention.",
    config={"cleanup.policy": "compact,delete", "retention.ms": str(DAY_MS)},
)
ANALYTICS = Topic(
    name="video.analytics",
    partitions=1,
    key="aggregate window key (UTF-8)",
    description="Derived per-minute aggregates written by the analytics stream processor.",
    config={"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)},
)
JOBS_DLQ = Topic(
    name="video.jobs.dlq",
    partitions=1,
    key="the original record key",
    description="Records that could not be decoded: original bytes, error in headers.",
    config={"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)},
)

CHUNKS = Topic(
    name="video.chunks",
    partitions=12,
    key="'{job id}/{chunk index}' (UTF-8); the partition is chosen per chunk so one job's "
    "chunks spread over partitions, and so over the workers of the group",
    description="Chunk tasks of split jobs (video.job.chunk_requested), read by the transcoder "
    "group beside video.jobs; an offset is committed once the chunk's outcome is on video.jobs.",
    config={"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS)},
)

CATALOGUE: tuple[Topic, ...] = (JOBS, PROGRESS, ANALYTICS, JOBS_DLQ, CHUNKS)
