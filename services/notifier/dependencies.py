"""What the notifier's streams share: the typed set of dependencies ``bootstrap`` makes once per
process."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.access.disabled import DisabledAccounts
from services.notifier.admission import Admission
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
