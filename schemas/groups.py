"""The consumer-group catalogue: every Kafka consumer group vidpipe's services join.

Beside the topic catalogue (``schemas.topics``). A group's name is the id its members join with
(``Settings.group`` adds the test prefix), the ``group`` label of ``vidpipe_consumer_lag_records``
and, for the projector, the key of its offsets in PostgreSQL: renaming one strands its offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.topics import CHUNKS, JOBS, PROGRESS, Topic


@dataclass(frozen=True)
class ConsumerGroup:
    """A consumer group and the topics its members read."""

    name: str
    topics: tuple[Topic, ...]
    description: str


TRANSCODER = ConsumerGroup(
    name="transcoder",
    topics=(JOBS, CHUNKS),
    description="Every transcoder process: jobs and chunk tasks spread over the workers.",
)
PROJECTOR = ConsumerGroup(
    name="projector",
    topics=(JOBS, PROGRESS),
    description="Every projector process; offsets are stored in PostgreSQL with the read model.",
)
ANALYTICS = ConsumerGroup(
    name="analytics",
    topics=(JOBS,),
    description="The faust stream processor (the group is its app id, which also names its "
    "internal topics).",
)

GROUPS: tuple[ConsumerGroup, ...] = (TRANSCODER, PROJECTOR, ANALYTICS)
