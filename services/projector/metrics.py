"""The projector's Prometheus metrics (default registry, served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from schemas.groups import PROJECTOR
from services.core.runtime.metrics import FAST_DURATION_BUCKETS, JOB_DURATION_BUCKETS

EVENTS_APPLIED = Counter(
    "vidpipe_projector_events_applied_total", "Events applied to the read model.", ["type"]
)
EVENTS_SKIPPED = Counter(
    "vidpipe_projector_events_skipped_total",
    "Events not applied: duplicate, unknown_job, illegal_transition, stale_progress.",
    ["reason"],
)
PROGRESS_COALESCED = Counter(
    "vidpipe_projector_progress_coalesced_total", "Progress ticks folded into a later tick."
)
DEAD_LETTERS = Counter(
    "vidpipe_projector_dead_letters_total", "Undecodable records sent to the dead-letter topic."
)
BATCH_SECONDS = Histogram(
    "vidpipe_projector_batch_seconds",
    "Wall time of one batch: decode, transaction, commit.",
    buckets=(*FAST_DURATION_BUCKETS, 30.0),
)
BATCH_RECORDS = Histogram(
    "vidpipe_projector_batch_records",
    "Records per batch.",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000),
)
LAG = Gauge(
    "vidpipe_projector_lag_records",
    "Records between the last applied offset and the partition's high watermark.",
    ["topic", "partition"],
)
FENCED_BATCHES = Counter(
    "vidpipe_projector_fenced_batches_total",
    "Batches rolled back because the stored offsets moved (rebuild swap or another member).",
)
LOG_RESETS = Counter(
    "vidpipe_projector_log_resets_total",
    "Partitions whose stored offset was beyond the log end (broker restarted empty).",
)
SINCE_UPLOAD = Histogram(
    "vidpipe_job_since_upload_seconds",
    "From a job's submission to its started / completed event (event times, not apply times).",
    ["event"],
    buckets=JOB_DURATION_BUCKETS,
)
JOBS = Gauge("vidpipe_jobs", "Unfinished jobs in the read model (pending, processing).", ["status"])
OLDEST_UPDATE = Gauge(
    "vidpipe_jobs_oldest_update_seconds",
    "Seconds since the least recently updated job in a status changed (pending, processing).",
    ["status"],
)
TOPIC_RECORDS = Gauge(
    "vidpipe_topic_records",
    "Records retained in a topic of the catalogue (end minus start offsets, all partitions).",
    ["topic"],
)
LAG_GROUP = PROJECTOR.name
"""The ``group`` label of this service's ``vidpipe_consumer_lag_records`` series."""
