"""The notifier's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.core.runtime.metrics import FAST_DURATION_BUCKETS

CONNECTED_CLIENTS_METRIC = "vidpipe_notifier_connected_clients"
CONNECTED_CLIENTS = Gauge(CONNECTED_CLIENTS_METRIC, "SSE streams open on this notifier instance.")
EVENTS_DELIVERED = Counter(
    "vidpipe_notifier_events_delivered_total",
    "SSE events handed to client connections.",
    ["kind"],  # live, replay, snapshot
)
CLIENTS_DROPPED = Counter(
    "vidpipe_notifier_clients_dropped_total",
    "SSE clients disconnected because their queue was full (they resume with Last-Event-ID).",
)
DELIVERY_LATENCY = Histogram(
    "vidpipe_notifier_delivery_latency_seconds",
    "From the event's ce_time (produce) to the moment it is sent to a client, live events only.",
    buckets=FAST_DURATION_BUCKETS,
)
RECORDS_CONSUMED = Counter(
    "vidpipe_notifier_records_consumed_total", "Log records read by the fan-out consumer."
)
REPLAYS = Counter(
    "vidpipe_notifier_replays_total",
    "Resumed streams, by where the missed events came from.",
    ["source"],  # buffer, log; too_old: a cursor too far back, answered with the current state
)
LOG_READS = Counter(
    "vidpipe_notifier_replay_log_reads_total",
    "Passes of the shared replay consumer over the log (one pass serves every resume waiting).",
)
STREAMS_REFUSED = Counter(
    "vidpipe_notifier_streams_refused_total",
    "Streams answered 503 + Retry-After because too many were being set up (a storm).",
)
STREAMS_LIMITED = Counter(
    "vidpipe_notifier_streams_limited_total",
    "Streams answered 429 + Retry-After: the account or client address held its most streams.",
    ["per"],  # user, address
)
ADMISSION_WAITING = Gauge(
    "vidpipe_notifier_streams_waiting", "Streams waiting for a set-up slot (bounded admission)."
)
