"""Behind the shipped proxies the client cannot choose its own address (issue 26, item 7).

nginx overwrites ``X-Forwarded-For`` with the peer it sees; the services trust the header only
from the proxy's network (Compose: nginx's ``edge`` network; Kubernetes: the ingress
controller's pods, the only ones the NetworkPolicies let reach the public port). The same
checks run in ``make infra-check`` over the kustomize output; here over the files themselves.
The integration test ``tests/integration/ingest/test_behind_nginx.py`` runs the real nginx.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tests.support.repo import ROOT
from tools.infra_check import (
    compose_trusts_the_proxy_only,
    kubernetes_trusts_the_ingress_only,
    nginx_forwards_peer_address,
)

INFRA = ROOT / "infra"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    return loaded


def _base() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((INFRA / "k8s" / "base").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    config = next(d for d in docs if d.get("kind") == "Kustomization")["configMapGenerator"][0]
    literals = dict(literal.split("=", 1) for literal in config["literals"])
    docs.append({"kind": "ConfigMap", "metadata": {"name": config["name"]}, "data": literals})
    return docs


def test_nginx_overwrites_x_forwarded_for_with_the_peer() -> None:
    conf = (INFRA / "nginx.conf").read_text()
    assert nginx_forwards_peer_address(conf) == []
    appended = conf.replace(
        "X-Forwarded-For $remote_addr;", "X-Forwarded-For $proxy_add_x_forwarded_for;"
    )
    assert nginx_forwards_peer_address(appended) == [
        "nginx appends to the client's X-Forwarded-For",
        "X-Forwarded-For set to $proxy_add_x_forwarded_for, not $remote_addr",
    ]


def test_compose_trusts_forwarded_headers_from_nginxs_network_only() -> None:
    compose = _compose()
    assert compose_trusts_the_proxy_only(compose) == []
    services = compose["services"]
    trusting = sorted(
        n for n, s in services.items() if "FORWARDED_ALLOW_IPS" in (s.get("environment") or {})
    )
    assert trusting == ["ingest", "notifier"]
    assert services["nginx"]["networks"] == ["edge"]
    for name in trusting:
        assert services[name]["environment"]["FORWARDED_ALLOW_IPS"] != "*"

    anyone = copy.deepcopy(compose)
    anyone["services"]["ingest"]["environment"]["FORWARDED_ALLOW_IPS"] = "*"
    assert compose_trusts_the_proxy_only(anyone) == ["ingest: FORWARDED_ALLOW_IPS is *"]
    crowded = copy.deepcopy(compose)
    crowded["services"]["transcoder"]["networks"] = ["default", "edge"]
    assert compose_trusts_the_proxy_only(crowded) == [
        "transcoder can reach the public services as nginx"
    ]


def test_kubernetes_trusts_the_ingress_controller_only() -> None:
    docs = _base()
    assert kubernetes_trusts_the_ingress_only(docs) == []
    config = next(d for d in docs if d.get("kind") == "ConfigMap")
    assert config["data"]["FORWARDED_ALLOW_IPS"] not in ("", "*")

    anyone = copy.deepcopy(docs)
    next(d for d in anyone if d.get("kind") == "ConfigMap")["data"]["FORWARDED_ALLOW_IPS"] = "*"
    assert kubernetes_trusts_the_ingress_only(anyone) == [
        "ConfigMap/vidpipe-config: FORWARDED_ALLOW_IPS is *"
    ]
    open_port = copy.deepcopy(docs)
    public = next(d for d in open_port if d.get("metadata", {}).get("name") == "allow-public-http")
    del public["spec"]["ingress"][0]["from"]
    assert kubernetes_trusts_the_ingress_only(open_port) == [
        "NetworkPolicy/allow-public-http: the public port admits more than the ingress "
        "controller's namespace"
    ]
