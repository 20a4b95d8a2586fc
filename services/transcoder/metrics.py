"""The transcoder's Prometheus metrics (process-wide, on the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from schemas.groups import TRANSCODER
from services.core.runtime.metrics import JOB_DURATION_BUCKETS

JOBS_PROCESSED = Counter(
    "jobs_processed_total",
    "Attempts that ended, by outcome (completed, failed, retried, cancelled).",
    ["status", "worker_id"],
)
STAGE_DURATION = Histogram(
    "job_processing_duration_seconds",
    "Wall time of pipeline stages ('job' for a whole attempt).",
    ["operation"],
    buckets=JOB_DURATION_BUCKETS,
)
IN_FLIGHT = Gauge("transcoder_jobs_in_flight", "Jobs running now in this process.")
QUEUED = Gauge("transcoder_jobs_queued", "Jobs read and waiting for a free slot or a retry time.")
UNDECODABLE_RECORDS = Counter(
    "transcoder_undecodable_records_total",
    "Undecodable video.jobs records the transcoder skipped (the projector dead-letters them).",
    ["reason"],
)
CONSUMER_LAG = Gauge(
    "transcoder_consumer_lag",
    "Records behind the end of the partition (video.jobs or video.chunks).",
    ["topic", "partition"],
)
WORKERS = Gauge(
    "transcoder_workers", "Job slots of this process (WORKER_COUNT); idle = workers - in flight."
)
SINCE_PROGRESS = Gauge(
    "transcoder_seconds_since_progress",
    "Longest time any running job here has gone without progress (0 when none runs).",
)
LAG_GROUP = TRANSCODER.name
"""The ``group`` label of this service's ``vidpipe_consumer_lag_records`` series."""
