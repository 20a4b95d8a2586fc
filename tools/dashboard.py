"""The vidpipe Grafana dashboard, generated: ``python -m tools.dashboard [--check]``.

Writes ``infra/grafana/dashboards/vidpipe.json`` (provisioned into Grafana by
``infra/grafana/provisioning``); ``--check`` fails when the file differs from what this
module generates (``make infra-check``). Queries name only metrics a service exports
(tests/integration/cli/test_ops_metrics.py scrapes a running stack for each of them).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "infra" / "grafana" / "dashboards" / "vidpipe.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # provisioning/datasources/*.yml


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""


def quantiles(metric: str, by: str, legend: str) -> tuple[tuple[str, str], ...]:
    """p50/p95/p99 of a histogram, per ``by`` label (empty: overall)."""
    group = f"le, {by}" if by else "le"
    return tuple(
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[5m])))",
            f"p{round(q * 100)} {legend}".strip(),
        )
        for q in (0.5, 0.95, 0.99)
    )


LAG = "max by (group, topic, partition) (vidpipe_consumer_lag_records)"

ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    (
        "Jobs",
        (
            Panel(
                "Jobs by status",
                (
                    ("max by (status) (vidpipe_jobs)", "{{status}} now"),
                    (
                        'sum by (status) (increase(jobs_processed_total{status!="retried"}[24h]))',
                        "{{status}} in 24 h",
                    ),
                ),
                description="unfinished jobs now (read model); attempts that ended in the last "
                "24 hours (transcoders)",
            ),
            Panel(
                "Throughput: attempts ended per minute",
                (("sum by (status) (rate(jobs_processed_total[5m])) * 60", "{{status}}"),),
                description="completed, failed, retried, cancelled; all transcoders",
            ),
            Panel(
                "Processing duration by operation",
                quantiles("job_processing_duration_seconds", "operation", "{{operation}}"),
                unit="s",
            ),
            Panel(
                "Upload to started / completed",
                quantiles("vidpipe_job_since_upload_seconds", "event", "{{event}}"),
                unit="s",
                description="from the submitted event's time to the started / completed event's",
            ),
            Panel(
                "Oldest job without a change",
                (("max by (status) (vidpipe_jobs_oldest_update_seconds)", "{{status}}"),),
                unit="s",
            ),
        ),
    ),
    (
        "Kafka",
        (
            Panel(
                "Consumer lag per group and topic",
                ((f"sum by (group, topic) ({LAG})", "{{group}} {{topic}}"),),
                description="transcoder on video.jobs and video.chunks, projector on "
                "video.jobs and video.progress",
            ),
            Panel(
                "Dead letters",
                (
                    ('max(vidpipe_topic_records{topic="video.jobs.dlq"})', "in video.jobs.dlq"),
                    ("sum(increase(vidpipe_projector_dead_letters_total[1h]))", "new in 1 h"),
                ),
            ),
            Panel(
                "Projector: events applied per second",
                (("sum by (type) (rate(vidpipe_projector_events_applied_total[5m]))", "{{type}}"),),
                unit="ops",
            ),
            Panel(
                "Projector batch duration",
                quantiles("vidpipe_projector_batch_seconds", "", ""),
                unit="s",
            ),
        ),
    ),
    (
        "Transcoders",
        (
            Panel(
                "Workers busy vs idle",
                (
                    ("sum(transcoder_jobs_in_flight)", "busy"),
                    ("sum(transcoder_workers) - sum(transcoder_jobs_in_flight)", "idle"),
                    ("sum(transcoder_jobs_queued)", "queued here"),
                ),
            ),
            Panel(
                "Longest time without progress",
                (("max(transcoder_seconds_since_progress)", "any running job"),),
                unit="s",
                description="the watchdog fails a job at its stall timeout (300 s)",
            ),
        ),
    ),
    (
        "Live events (SSE)",
        (
            Panel(
                "SSE clients",
                (("sum(vidpipe_notifier_connected_clients)", "connected"),),
            ),
            Panel(
                "SSE delivery latency",
                quantiles("vidpipe_notifier_delivery_latency_seconds", "", ""),
                unit="s",
                description="from the event's time to its hand-over to a client (live events)",
            ),
            Panel(
                "SSE events and drops per second",
                (
                    (
                        "sum by (kind) (rate(vidpipe_notifier_events_delivered_total[5m]))",
                        "{{kind}}",
                    ),
                    ("sum(rate(vidpipe_notifier_clients_dropped_total[5m]))", "clients dropped"),
                ),
                unit="ops",
            ),
        ),
    ),
    (
        "Ingest",
        (
            Panel(
                "Upload bytes per second",
                (("sum(rate(upload_bytes_total[5m]))", "received"),),
                unit="Bps",
            ),
            Panel("Upload duration", quantiles("upload_duration_seconds", "", ""), unit="s"),
            Panel(
                "HTTP errors by route",
                (
                    (
                        'sum by (route, status) (rate(http_requests_total{status=~"[45].."}[5m]))',
                        "{{status}} {{route}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "HTTP p95 latency by route",
                (
                    (
                        "histogram_quantile(0.95, sum by (le, route) "
                        "(rate(http_request_duration_seconds_bucket[5m])))",
                        "{{route}}",
                    ),
                ),
                unit="s",
            ),
        ),
    ),
)


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(panel.queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    """The dashboard model: one collapsed-free row per area, three panels across."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in ROWS:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for i, panel in enumerate(row):
            panels.append(_panel(panel, len(panels) + 1, (i % 3) * 8, y + (i // 3) * 8))
        y += 8 * ((len(row) + 2) // 3)
    return {
        "uid": "vidpipe",
        "title": "vidpipe",
        "tags": ["vidpipe"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python -m tools.dashboard", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
