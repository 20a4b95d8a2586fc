"""Ingest's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPLOAD_BYTES = Counter("upload_bytes_total", "Bytes of uploaded video received")
UPLOAD_SECONDS = Histogram(
    "upload_duration_seconds",
    "Time from the first byte of an upload to its acceptance",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
