"""What every upload route does once a source is stored: probe it, publish ``submitted``.

``POST /upload`` and the tus routes both end here, so both create identical jobs: the same
filename rules, options validation, probe metadata, event and answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.envelope import Envelope, new_envelope
from schemas.events import JobSubmitted
from schemas.options import InvalidOptions, ProcessingOptions, parse_options
from services.core.domain.columns import FILENAME_MAX
from services.core.http.errors import ApiError
from services.core.media.probe import MediaInfo, ProbeError
from services.core.runtime.clock import Clock
from services.core.runtime.logs import current_correlation_id
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore, StoredObject, keys
from services.ingest.adapters.job_log import JobLog
from services.ingest.adapters.media_urls import MediaUrls
from services.ingest.adapters.probe_pool import ProbeFailed, ProbePool
from services.ingest.dependencies import EVENT_SOURCE
from services.ingest.http.resources import Job
from services.ingest.jobs.queries import job_view, pending_view
from services.ingest.uploads.rules import media_refusal, recent_uploads

log = logging.getLogger(__name__)


@dataclass
class StoredSource:
    """A stored upload on its way to becoming a job."""

    job_id: str
    filename: str
    stored: StoredObject
    info: MediaInfo | None = None


def safe_filename(raw: str | None) -> str:
    """The client's filename as display metadata only: no directories, no control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C"
    )
    name = re.sub(r"\s+", " ", name).strip() or "upload"
    return name[:FILENAME_MAX]


def parse_options_json(raw: bytes | None) -> ProcessingOptions:
    """Processing options from the client's JSON (absent: the default preset), or 422."""
    try:
        value = json.loads(raw) if raw and raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "invalid_options", "options: not valid JSON") from None
    try:
        return parse_options(value)
    except InvalidOptions as exc:
        raise ApiError(422, "invalid_options", f"options: {exc}") from None


@dataclass(frozen=True)
class Submission:
    """What turning stored sources into jobs uses; a handler that names one gets it made from
    the dependencies of the same names (``services.ingest.dependencies.endpoint``)."""

    settings: Settings
    engine: AsyncEngine
    store: ObjectStore
    job_log: JobLog
    media: MediaUrls
    clock: Clock
    prober: ProbePool

    async def publish(
        self,
        user_id: str,
        sources: Sequence[StoredSource],
        options: ProcessingOptions,
        batch_id: str | None,
    ) -> tuple[list[Envelope], list[tuple[int, int]]]:
        """Probe every source (415 if one is not a video, 422 if probing it failed), then
        publish their ``submitted`` events with acks=all. Removes nothing on failure: the
        caller decides. The pool bounds how many probes run at once, whoever asks."""
        await asyncio.gather(*(self._validate(s) for s in sources))
        recent = await recent_uploads(self.engine, self.clock, user_id)
        envelopes = [
            new_envelope(
                _submitted(user_id, s, options, batch_id, priority=recent + i),
                source=EVENT_SOURCE,
                correlation_id=current_correlation_id(),
            )
            for i, s in enumerate(sources)
        ]
        return envelopes, await self.job_log.publish(envelopes)

    async def views(
        self, envelopes: Sequence[Envelope], positions: Sequence[tuple[int, int]]
    ) -> list[Job]:
        """The new jobs as ``GET /jobs/{id}`` shows them, once projected (bounded wait)."""
        applied = await self.job_log.projected(positions)
        return [await self._view(e.event, applied) for e in envelopes]  # type: ignore[arg-type]

    async def discard(self, sources: Sequence[StoredSource]) -> None:
        """Remove what a refused upload stored."""
        for source in sources:
            try:
                await self.store.delete_prefix(keys.source_prefix(source.job_id))
            except Exception:  # the refusal matters more than the clean-up; log and go on
                log.exception("could not remove refused upload %s", source.job_id)

    async def _validate(self, source: StoredSource) -> None:
        if source.stored.size_bytes == 0:
            raise ApiError(415, "not_a_video", f"{source.filename}: the file is empty")
        key = source.stored.key
        target = self.store.local_path(key)
        location = str(target) if target is not None else await self.store.presigned_url(key)
        assert location is not None
        try:
            source.info = await self.prober.probe(location, None, self.settings.media_limits)
        except ProbeError as exc:
            raise media_refusal(source.filename, exc) from None
        except ProbeFailed as exc:
            message = f"{source.filename}: could not be probed: {exc.reason}"
            raise ApiError(422, "probe_failed", message) from None

    async def _view(self, event: JobSubmitted, applied: bool) -> Job:
        if applied:
            found = await job_view(self.engine, self.media, self.clock, event.job_id)
            if found is not None:
                return found
        return pending_view(event, self.clock())


def _submitted(
    user_id: str,
    source: StoredSource,
    options: ProcessingOptions,
    batch_id: str | None,
    *,
    priority: int,
) -> JobSubmitted:
    return JobSubmitted(
        job_id=source.job_id,
        user_id=user_id,
        original_filename=source.filename,
        source_key=source.stored.key,
        source_size=source.stored.size_bytes,
        source_sha256=source.stored.sha256 or "",
        processing_options=options.to_event_dict(),
        source_metadata=source.info.as_metadata() if source.info else {},
        batch_id=batch_id,
        priority=priority,
    )
