"""Per-minute aggregates on ``video.analytics``, derived from the job log by a stream processor.

Derived data is not a fact about a job, so it skips the CloudEvents envelope: the value is the
model's plain JSON, the key names the window, and a ``content-type`` header says it is JSON.
"""

from __future__ import annotations

from datetime import UTC
from typing import ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.envelope import CONTENT_TYPE, DecodeError, KafkaRecord
from schemas.topics import ANALYTICS

Dimension = Literal["preset", "user"]


class MinuteAggregate(BaseModel):
    """Counts and volumes of the jobs of one preset or one user within one minute."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str] = "video.analytics.minute_aggregate"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = ANALYTICS.name

    window_start: AwareDatetime = Field(description="Start of the window (inclusive, UTC).")
    window_end: AwareDatetime = Field(description="End of the window (exclusive, UTC).")
    dimension: Dimension = Field(description="What the jobs are grouped by.")
    dimension_value: str = Field(description="The preset name or the user id.")
    jobs_submitted: int = Field(ge=0, description="Jobs submitted in the window.")
    jobs_completed: int = Field(ge=0, description="Jobs completed in the window.")
    jobs_failed: int = Field(ge=0, description="Jobs that failed for good in the window.")
    processing_seconds: float = Field(ge=0, description="Sum of attempt wall times, seconds.")
    bytes_in: int = Field(ge=0, description="Source bytes of the submitted jobs.")
    bytes_out: int = Field(ge=0, description="Output bytes of the completed jobs.")

    @field_validator("window_start", "window_end")
    @classmethod
    def _in_utc(cls, moment: AwareDatetime) -> AwareDatetime:
        # Store UTC so keys and JSON do not depend on the producer's offset.
        return moment.astimezone(UTC)

    @model_validator(mode="after")
    def _window_is_ordered(self) -> MinuteAggregate:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self

    @property
    def key(self) -> str:
        """``{dimension}:{dimension_value}:{window_start}``, the start as in the JSON value."""
        start = self.window_start.isoformat().replace("+00:00", "Z")  # stored in UTC
        return f"{self.dimension}:{self.dimension_value}:{start}"

    def to_record(self) -> KafkaRecord:
        """The record for ``video.analytics``; one key per window so compaction could apply."""
        return KafkaRecord(
            topic=self.topic,
            key=self.key.encode(),
            value=self.model_dump_json().encode(),
            headers=[("content-type", CONTENT_TYPE.encode())],
        )

    @classmethod
    def from_record(cls, value: bytes | None) -> MinuteAggregate:
        """Read a record value; raise ``DecodeError`` when it is not a valid aggregate."""
        if value is None:
            raise DecodeError("missing_value", "record has no value (tombstone)")
        try:
            aggregate = cls.model_validate_json(value)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)
            bad_json = any(problem["type"] == "json_invalid" for problem in problems)
            reason: Literal["bad_json", "invalid_data"] = "bad_json" if bad_json else "invalid_data"
            raise DecodeError(reason, f"{cls.type} data is invalid: {problems[0]['msg']}") from exc
        return aggregate
