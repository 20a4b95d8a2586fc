"""Which offset of a partition may be committed: the lowest one whose work is not finished.

A record is *read* in order and *finished* in any order (jobs end when they end). Committing
``committable()`` means a restart re-reads exactly the records whose work may be unfinished.
"""

from __future__ import annotations


class PartitionOffsets:
    """Offsets read but not finished, for one partition."""

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._next: int | None = None  # one past the last offset read
        self.committed: int | None = None

    def read(self, offset: int, *, finished: bool = False) -> None:
        """Record that ``offset`` was read; ``finished`` for records needing no work."""
        self._next = offset + 1 if self._next is None else max(self._next, offset + 1)
        if not finished:
            self._open.add(offset)

    def finish(self, *offsets: int) -> None:
        """The work of ``offsets`` is done (any outcome that leaves nothing to redo)."""
        self._open.difference_update(offsets)

    def committable(self) -> int | None:
        """The offset to commit: everything below it is finished. None if nothing was read."""
        if self._open:
            return min(self._open)
        return self._next

    def to_commit(self) -> int | None:
        """``committable()`` if it moved past the last commit, else None."""
        offset = self.committable()
        if offset is None or (self.committed is not None and offset <= self.committed):
            return None
        return offset

    @property
    def next_offset(self) -> int | None:
        """One past the last offset read (where reading goes on), None if nothing was read."""
        return self._next

    @property
    def open_count(self) -> int:
        """How many records still have unfinished work."""
        return len(self._open)
