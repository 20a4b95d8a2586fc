"""What the notifier's streams share: the typed set of dependencies ``bootstrap`` makes once per
process."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.core.access.disabled import DisabledAccounts
from services.notifier.admission import Admission, StreamCounts
from services.notifier.hub import Hub
from services.notifier.queries import ReadModel
from services.notifier.resume import LogReader
from services.notifier.settings import NotifierConfig


@dataclass(frozen=True)
class Dependencies:
    """What every stream of one notifier instance shares (made by ``bootstrap``)."""

    hub: Hub
    reads: ReadModel
    config: NotifierConfig
    log_reader: LogReader
    admission: Admission
    topics: tuple[str, ...]
    disabled: DisabledAccounts
    replays: Admission = field(default_factory=lambda: Admission(0, 0, 0))
    """The gate of resumes that read the log, apart from ``admission``'s set-up slots."""
    per_user: StreamCounts = field(default_factory=lambda: StreamCounts(0))
    per_address: StreamCounts = field(default_factory=lambda: StreamCounts(0))
