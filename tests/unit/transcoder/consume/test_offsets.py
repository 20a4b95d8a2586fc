"""A partition's commit point (``services.transcoder.consume.offsets``): pure, no broker."""

from __future__ import annotations

from services.transcoder.consume.offsets import PartitionOffsets


def test_commit_stays_below_unfinished_work() -> None:
    offsets = PartitionOffsets()
    assert offsets.committable() is None
    offsets.read(5)
    offsets.read(6, finished=True)
    offsets.read(7)
    assert offsets.committable() == 5
    offsets.finish(7)
    assert offsets.to_commit() == 5
    offsets.committed = 5
    assert offsets.to_commit() is None
    offsets.finish(5)
    assert offsets.to_commit() == 8


def test_the_first_record_read_sets_the_commit_point() -> None:
    offsets = PartitionOffsets()
    offsets.read(5, finished=True)  # a record needing no work: commit right past it
    assert offsets.committable() == 6
    offsets.read(3, finished=True)  # re-read below: the position never goes back
    assert offsets.committable() == 6
