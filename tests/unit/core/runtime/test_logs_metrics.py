"""JSON log lines and the Prometheus ops endpoints (the app in-process; ``serve_ops`` on a
real socket is in ``tests/integration/core/test_serve_ops.py``)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
)

from services.core.http.ops import HealthCheck, metrics_response, ops_app
from services.core.runtime.logs import (
    configure_logging,
    correlation_scope,
    current_correlation_id,
    parse_level,
)
from services.core.runtime.metrics import FAST_DURATION_BUCKETS, JOB_DURATION_BUCKETS

log = logging.getLogger("vidpipe.test")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """JSON logging into a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("ingest", "DEBUG", stream=buffer)
    yield buffer
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line parsed as JSON; only this test's records (asyncio logs at DEBUG too)."""
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [r for r in records if r["logger"] == log.name]


def test_record_is_one_json_line(stream: io.StringIO) -> None:
    log.info("job %s accepted", "j1", extra={"job_id": "j1", "method": "POST", "status": 202})
    [record] = lines(stream)
    assert record["message"] == "job j1 accepted"
    assert (record["level"], record["logger"], record["service"]) == (
        "INFO",
        "vidpipe.test",
        "ingest",
    )
    assert (record["job_id"], record["method"], record["status"]) == ("j1", "POST", 202)
    assert record["correlation_id"] is None
    assert datetime.fromisoformat(record["ts"]).tzinfo is not None
    assert "exc_info" not in record and "args" not in record


def test_correlation_id_from_scope(stream: io.StringIO) -> None:
    with correlation_scope("cid-1"):
        assert current_correlation_id() == "cid-1"
        log.info("inside")
    log.info("outside")
    inside, outside = lines(stream)
    assert inside["correlation_id"] == "cid-1"
    assert outside["correlation_id"] is None
    assert current_correlation_id() is None


async def test_correlation_id_is_per_task(stream: io.StringIO) -> None:
    async def handle(cid: str) -> None:
        with correlation_scope(cid):
            await asyncio.sleep(0)  # interleave the two tasks
            log.info("handled")

    await asyncio.gather(handle("a"), handle("b"))
    assert sorted(r["correlation_id"] for r in lines(stream)) == ["a", "b"]


def test_exception_is_rendered(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("upload failed")
    [record] = lines(stream)
    assert record["level"] == "ERROR"
    assert "Traceback" in record["exc_info"]
    assert "ValueError: bad input" in record["exc_info"]


def test_unserialisable_extra_is_stringified(stream: io.StringIO) -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    log.info("scheduled", extra={"not_before": when})
    assert lines(stream)[0]["not_before"] == str(when)


def test_level_filters_and_reconfigure_replaces_handler(stream: io.StringIO) -> None:
    configure_logging("ingest", "warn", stream=stream)
    log.info("dropped")
    log.warning("kept")
    assert [r["message"] for r in lines(stream)] == ["kept"]
    assert lines(stream)[0]["level"] == "WARNING"


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("DEBUG", logging.DEBUG),
        ("info", logging.INFO),
        ("WARN", logging.WARNING),
        ("Warning", logging.WARNING),
        ("ERROR", logging.ERROR),
    ],
)
def test_parse_level(name: str, level: int) -> None:
    assert parse_level(name) == level


def test_parse_level_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        parse_level("LOUD")


# --- metrics --------------------------------------------------------------------------------


def registry_with_samples() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("vidpipe_test_events", "Events seen.", registry=registry).inc(3)
    Histogram(
        "vidpipe_test_seconds", "Durations.", buckets=FAST_DURATION_BUCKETS, registry=registry
    ).observe(0.02)
    return registry


def test_metrics_response_renders_registry() -> None:
    response = metrics_response(registry_with_samples())
    body = bytes(response.body).decode()
    assert response.media_type == CONTENT_TYPE_LATEST
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "vidpipe_test_events_total 3.0" in body
    assert 'vidpipe_test_seconds_bucket{le="0.025"} 1.0' in body


def test_buckets_are_sorted() -> None:
    for buckets in (FAST_DURATION_BUCKETS, JOB_DURATION_BUCKETS):
        assert list(buckets) == sorted(set(buckets))


async def healthy() -> dict[str, Any]:
    return {"status": "ok", "consumer": "running"}


async def degraded() -> dict[str, Any]:
    return {"status": "degraded"}


async def broken() -> dict[str, Any]:
    raise RuntimeError("broker unreachable")


def asgi_client(
    health: HealthCheck, registry: CollectorRegistry | None = None
) -> httpx.AsyncClient:
    # httpx's ASGI transport: starlette's TestClient warns about httpx (warnings are errors).
    app = ops_app(health, registry) if registry is not None else ops_app(health)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_ops_app_health_and_metrics() -> None:
    async with asgi_client(healthy, registry_with_samples()) as client:
        assert (await client.get("/health")).json() == {"status": "ok", "consumer": "running"}
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
        assert "vidpipe_test_events_total 3.0" in metrics.text


async def test_ops_app_unhealthy_is_503() -> None:
    async with asgi_client(degraded) as client:
        assert (await client.get("/health")).status_code == 503
    async with asgi_client(broken) as client:
        answer = await client.get("/health")
        assert answer.status_code == 503
        assert answer.json() == {"status": "error", "error": "broker unreachable"}


async def test_ops_app_ready_answers_as_health() -> None:
    async with asgi_client(healthy) as client:
        assert (await client.get("/ready")).json() == {"status": "ok", "consumer": "running"}
    async with asgi_client(degraded) as client:
        assert (await client.get("/ready")).status_code == 503


def test_consumer_lag_is_set_per_group_topic_partition_and_forgotten() -> None:
    from services.core.runtime.metrics import forget_consumer_lag, set_consumer_lag

    set_consumer_lag("g-test", "video.chunks", 3, -5)  # an end read before the position moved
    labels = {"group": "g-test", "topic": "video.chunks", "partition": "3"}
    sample = "vidpipe_consumer_lag_records"
    assert REGISTRY.get_sample_value(sample, labels) == 0
    set_consumer_lag("g-test", "video.chunks", 3, 7)
    assert REGISTRY.get_sample_value(sample, labels) == 7
    forget_consumer_lag("g-test", "video.chunks", 3)
    forget_consumer_lag("g-test", "video.chunks", 3)  # twice: a second revoke is harmless
    assert REGISTRY.get_sample_value(sample, labels) is None
