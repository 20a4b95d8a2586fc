"""Prometheus plumbing shared by the services: common metrics, bucket sets, the consumer-lag gauge.

Each service defines its own metrics next to its code; this module only renders a registry,
serves ``/health`` + ``/metrics`` for services without an HTTP app, and fixes bucket sets so
durations are comparable across services.
"""

from __future__ import annotations

import contextlib

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

# Seconds; for HTTP requests, Kafka produce/commit, database transactions.
FAST_DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Seconds; for whole jobs and pipeline stages (ffmpeg runs last minutes).
JOB_DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)


# The public HTTP services' requests (ingest's middleware, the notifier's stream routes), one
# series whichever process answers, so "HTTP errors by route" sees the notifier's refusals too.
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template and status",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP request durations by route template (streams: until their headers are sent)",
    ["route"],
    buckets=FAST_DURATION_BUCKETS,
)

# One lag gauge for every consumer group, set by the consumers themselves, so that dashboards,
# alerts and autoscalers read one series whatever the group or topic (video.chunks included).
CONSUMER_LAG = Gauge(
    "vidpipe_consumer_lag_records",
    "Records between a group's position (committed or stored offset) and the partition's end.",
    ["group", "topic", "partition"],
)


def set_consumer_lag(group: str, topic: str, partition: int, lag: int) -> None:
    """Record ``group``'s lag on one partition (never below zero)."""
    CONSUMER_LAG.labels(group, topic, str(partition)).set(max(lag, 0))


def forget_consumer_lag(group: str, topic: str, partition: int) -> None:
    """Drop the series of a partition this process no longer owns (its new owner reports it)."""
    with contextlib.suppress(KeyError):
        CONSUMER_LAG.remove(group, topic, str(partition))
