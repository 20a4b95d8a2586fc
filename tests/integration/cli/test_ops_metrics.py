"""Every metric the dashboard and the alert rules name is exported by a running service.

A real ``vidpipe up`` processes one job; then ``/metrics`` of every service is scraped and
each query of ``infra/alerts.yml`` and of the Grafana dashboard is checked against what the
services export: metric names, the labels the queries match or group on, and the label values
they match exactly.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import media
from tests.support.eventually import eventually
from tests.support.repo import ROOT
from tests.support.up import Up, User
from tools import dashboard

pytestmark = pytest.mark.slow

INFRA = ROOT / "infra"
# Label values that exist only once another feature is deployed (split-and-stitch's topic).
FUTURE_VALUES = {("topic", "video.chunks")}

_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "bool"}
_KEYWORDS |= {"group_right", "offset", "inf", "nan"}


class Exported:
    """Samples scraped from every service: metric name -> label name -> values seen."""

    def __init__(self) -> None:
        self.labels: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    def add(self, text: str) -> None:
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            found = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
            assert found, line
            labels = self.labels[found.group(1)]
            for name, value in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(3) or ""):
                labels[name].add(value)


def queries() -> dict[str, str]:
    """Every PromQL expression of the alert rules and the dashboard, by where it is."""
    found = {}
    for group in yaml.safe_load((INFRA / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            found[f"alert {rule['alert']}"] = rule["expr"]
    for panel in dashboard.dashboard()["panels"]:
        for target in panel.get("targets", []):
            found[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    return found


def selectors(expr: str) -> tuple[list[tuple[str, list[tuple[str, str, str]]]], set[str]]:
    """The metric selectors of ``expr`` (name, [(label, op, value)]) and its grouping labels."""
    grouping: set[str] = set()
    for labels in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        grouping |= {label.strip() for label in labels.split(",") if label.strip()}
    rest = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range selectors
    found = []
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?\s*(\()?", rest):
        name, matchers, call = match.group(1), match.group(3), match.group(4)
        if call or name.lower() in _KEYWORDS:
            continue
        parsed = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers or "")
        found.append((name, parsed))
    return found, grouping


def test_selectors_are_read_from_promql() -> None:
    found, grouping = selectors(
        'sum by (group, topic) (rate(x_total{status=~"5..", route="/a"}[5m])) / absent(y) > 2'
    )
    assert found == [("x_total", [("status", "=~", "5.."), ("route", "=", "/a")]), ("y", [])]
    assert grouping == {"group", "topic"}


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vpm", dir="/tmp") as tmp:
        yield Path(tmp)


async def test_every_metric_of_the_dashboard_and_alerts_is_exported(data_dir: Path) -> None:
    source = media.make_video(data_dir.parent / f"{data_dir.name}.mp4", seconds=1.0)
    up = Up(data_dir)
    try:
        up.wait_ready()
        base = up.address("ingest")
        user = await User.register(base)
        await user.completed(await user.upload(source))
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/jobs/not-a-job", headers=user.headers)).status_code >= 400
        services = json.loads((data_dir / "stack.json").read_text())["services"]
        ports = {name: services[name]["port"] for name in ("projector", "transcoder")}
        ports["web"] = services["web"]["ops_port"]  # /metrics is not on the public port

        async def scrape() -> Exported | None:
            exported = Exported()
            async with httpx.AsyncClient(timeout=10) as client:
                for port in ports.values():
                    response = await client.get(f"http://127.0.0.1:{port}/metrics")
                    assert response.status_code == 200
                    exported.add(response.text)
            # the projector's gauges refresh on a timer: wait for their first round
            jobs = exported.labels.get("vidpipe_jobs", {})
            return exported if "pending" in jobs.get("status", set()) else None

        exported: Exported = await eventually(scrape, timeout=60, message="the projector's gauges")
    except BaseException:
        up.dump()
        raise
    finally:
        assert up.stop() == 0

    missing = []
    for where, expr in queries().items():
        found, grouping = selectors(expr)
        assert found, f"{where}: no metric in {expr!r}"
        labels_there: set[str] = set()
        for name, matchers in found:
            if name not in exported.labels:
                missing.append(f"{where}: {name} is not exported")
                continue
            labels = exported.labels[name]
            labels_there |= set(labels)
            for label, op, value in matchers:
                if label not in labels:
                    missing.append(f"{where}: {name} has no label {label}")
                elif (
                    op == "=" and value not in labels[label] and (label, value) not in FUTURE_VALUES
                ):
                    missing.append(f"{where}: {name}{{{label}={value!r}}} is not exported")
        for label in grouping - {"le"} - labels_there:
            missing.append(f"{where}: no metric of it has the label {label}")
    assert not missing, "\n".join(missing)
