"""Upcasters: turn an old event payload into the next schema version's payload.

The log keeps every version ever written, so each bump of an event's ``schema_version``
registers one upcaster ``(type, from_version) -> (dict -> dict)`` here; ``schemas.envelope``
chains them up to the current version before validating. The payload models of old versions
are kept too (``LEGACY_PAYLOADS``) so their JSON Schemas stay published for non-Python readers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""``(event type, from_version)`` -> function returning the ``from_version + 1`` payload."""

LEGACY_PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {}
"""``(event type, version)`` -> model of a superseded payload, for documentation only."""


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the decorated function as the upcaster of ``event_type`` v``from_version``."""

    def register(function: Upcaster) -> Upcaster:
        if (event_type, from_version) in UPCASTERS:
            raise ValueError(f"two upcasters for {event_type} v{from_version}")
        UPCASTERS[event_type, from_version] = function
        return function

    return register


def _rename(payload: Payload, old: str, new: str) -> None:
    # Only rename what is there: a payload missing the field then fails validation clearly.
    if old in payload:
        payload[new] = payload.pop(old)


class JobSubmittedV1(BaseModel):
    """``video.job.submitted`` version 1, before sources were hashed and sized."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str] = "video.job.submitted"
    schema_version: ClassVar[int] = 1

    job_id: str = Field(description="The job this event is about (also the record key).")
    user_id: str = Field(description="Owner of the job.")
    original_filename: str = Field(description="Client-side file name; metadata only.")
    file_path: str = Field(description="Object storage key of the uploaded source.")
    options: dict[str, Any] = Field(default_factory=dict, description="Requested outputs.")
    source_metadata: dict[str, Any] = Field(
        default_factory=dict, description="What probing the upload found (duration, streams)."
    )
    batch_id: str | None = Field(default=None, description="Set when uploaded in a batch.")


LEGACY_PAYLOADS[JobSubmittedV1.type, JobSubmittedV1.schema_version] = JobSubmittedV1


@upcaster("video.job.submitted", 1)
def upcast_submitted_v1_v2(payload: Payload) -> Payload:
    """v1 -> v2: ``file_path`` became ``source_key``, ``options`` ``processing_options``;
    ``source_sha256`` ("" = unknown) and ``source_size`` (0 = unknown) were added."""
    upgraded = dict(payload)  # never mutate the caller's dict
    _rename(upgraded, "file_path", "source_key")
    _rename(upgraded, "options", "processing_options")
    upgraded.setdefault("source_sha256", "")
    upgraded.setdefault("source_size", 0)
    return upgraded
