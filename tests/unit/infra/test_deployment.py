"""The container deployment in ``infra/`` stays consistent with the services it runs.

No Docker here: the files are parsed and cross-checked, not started.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from services.cli.registry import SERVICE_NAMES
from services.core.runtime.settings import parse_size
from tests.support.repo import ROOT

INFRA = ROOT / "infra"


def _yaml(name: str) -> Any:
    return yaml.safe_load((INFRA / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = _yaml("docker-compose.yml")["services"]
    return services


def _argv(service: dict[str, Any]) -> list[str]:
    """The process a compose service runs; the vidpipe image's entry point is ``vidpipe``."""
    entrypoint = service.get("entrypoint", ["vidpipe"])
    command = service.get("command", [])
    if isinstance(command, str):
        command = command.split()
    return [*entrypoint, *command]


def _http_port(service: dict[str, Any]) -> str | None:
    env = service.get("environment") or {}
    return env.get("OPS_PORT") or env.get("PORT")


def test_every_service_runs_in_compose(compose: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        assert name in compose, f"no compose service {name}"
        assert _argv(compose[name])[:2] == ["vidpipe", name]
        assert "/health" in str(compose[name]["healthcheck"]["test"])


def test_prometheus_scrapes_every_http_service(compose: dict[str, Any]) -> None:
    targets = set()
    for job in _yaml("prometheus.yml")["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets.update(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            targets.update(f"{host}:{dns['port']}" for host in dns["names"])
    for name, service in compose.items():
        port = _http_port(service)
        if port:
            assert f"{name}:{port}" in targets, f"Prometheus does not scrape {name}:{port}"


def _nginx_route(conf: str, path: str) -> str:
    """The upstream ``host:port`` nginx proxies ``path`` to (exact, then regex, then prefix)."""
    upstreams = dict(re.findall(r"upstream\s+(\w+)\s*\{[^}]*?server\s+([\w.-]+:\d+)", conf))
    exact, regex, prefix = {}, [], {}
    for kind, pattern, body in re.findall(r"location\s+(=|~)?\s*(\S+)\s*\{([^}]*)\}", conf):
        target = re.search(r"proxy_pass\s+http://(\w+)", body)
        where = upstreams[target.group(1)] if target else "none"
        if kind == "=":
            exact[pattern] = where
        elif kind == "~":
            regex.append((pattern, where))
        else:
            prefix[pattern] = where
    if path in exact:
        return exact[path]
    for pattern, where in regex:
        if re.search(pattern, path):
            return where
    return prefix[max((p for p in prefix if path.startswith(p)), key=len)]


def test_nginx_routes_events_to_the_notifier(compose: dict[str, Any]) -> None:
    conf = (INFRA / "nginx.conf").read_text()
    # the notifier serves its streams on PORT (its ops routes are on OPS_PORT)
    notifier = f"notifier:{compose['notifier']['environment']['PORT']}"
    ingest = f"ingest:{compose['ingest']['environment']['PORT']}"  # OPS_PORT: /metrics
    assert _nginx_route(conf, "/events") == notifier
    assert _nginx_route(conf, "/jobs/3f2a/events") == notifier
    for path in ("/", "/jobs", "/jobs/3f2a", "/auth/login", "/events/other", "/uploads/3f2a"):
        assert _nginx_route(conf, path) == ingest, path
    assert _nginx_route(conf, "/metrics") == "none"


def test_nginx_accepts_uploads_as_large_as_ingest_does(compose: dict[str, Any]) -> None:
    conf = (INFRA / "nginx.conf").read_text()
    limits = re.findall(r"client_max_body_size\s+(\w+);", conf)
    assert len(limits) == 2, "the server's, and the tus location's"
    max_file_size = compose["ingest"]["environment"]["MAX_FILE_SIZE"]
    for limit in limits:
        # nginx's k/m/g are powers of 1024, as are parse_size's bare K/M/G
        nginx_bytes = parse_size("client_max_body_size", limit.upper())
        assert nginx_bytes >= parse_size("MAX_FILE_SIZE", max_file_size)
    assert conf.count("proxy_request_buffering off;") == 2  # POST /upload and tus stream through


def test_compose_runs_the_embedded_brokers_kafka_major_version(compose: dict[str, Any]) -> None:
    from services.cli.broker import KAFKA_VERSION

    image = compose["kafka"]["image"]
    assert image.startswith("apache/kafka:"), image
    version = image.split(":", 1)[1]
    assert version.split(".")[0] == KAFKA_VERSION.split(".")[0], (version, KAFKA_VERSION)


def test_the_pom_fetches_the_kafka_version_the_broker_runs() -> None:
    from services.cli.broker import KAFKA_VERSION

    pom = (INFRA / "kafka" / "pom.xml").read_text()
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert found and found.group(1) == KAFKA_VERSION
