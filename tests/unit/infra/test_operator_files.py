"""The operator's files in ``infra/`` agree with the code: Compose, Grafana, alerts, Kubernetes.

Parsed and cross-checked here, without Docker or a cluster; ``make infra-check`` runs the real
tools on the same files (promtool, nginx -t, kustomize + the Kubernetes schemas).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.configprovider
import botocore.credentials
import pytest
import yaml

from schemas.topics import CATALOGUE, JOBS
from services.cli.broker import KAFKA_VERSION
from services.cli.registry import SERVICE_NAMES
from services.core.runtime.settings import Settings
from services.transcoder.bootstrap import TranscoderConfig
from services.transcoder.metrics import LAG_GROUP
from tests.support.repo import ROOT
from tools import dashboard

INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
CHUNKS_TOPIC = "video.chunks"  # split-and-stitch's topic, consumed by the transcoder group
VIDPIPE_IMAGE = "vidpipe:local"


class _Recording(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def variables_read() -> set[str]:
    """Every variable a vidpipe service reads: its settings (asked of the environment while
    ``Settings.from_env`` runs), plus those its libraries read on their own: boto3's
    credentials and region (``FORWARDED_ALLOW_IPS`` is a setting: the public port passes it to
    uvicorn explicitly, never uvicorn's own default)."""
    env = _Recording()
    Settings.from_env(env)
    provider = botocore.credentials.EnvProvider
    region = botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES["region"][1]
    return env.asked | {provider.ACCESS_KEY, provider.SECRET_KEY, region}


def test_the_variables_read_are_derived_not_listed() -> None:
    read = variables_read()
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "JWT_SECRET", "WORKER_COUNT"):
        assert name in read
    assert "FORWARDED_ALLOW_IPS" in read, "a setting, passed to uvicorn explicitly"
    assert "POSTGRES_PASSWORD" not in read


# -- Compose -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (INFRA / "docker-compose.yml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(compose_text)
    return parsed


def _vidpipe_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == VIDPIPE_IMAGE}


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if op == ":-":
            return env.get(name) or arg
        if name not in env:
            raise KeyError(f"{name}: {arg}")
        return env[name]

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


def test_compose_sets_only_variables_the_services_read(compose: dict[str, Any]) -> None:
    read = variables_read()
    services = _vidpipe_services(compose)
    assert set(SERVICE_NAMES) <= set(services)
    for name, service in services.items():
        unknown = set(service.get("environment") or {}) - read
        assert not unknown, f"{name} sets {sorted(unknown)}, which no vidpipe code reads"


def test_compose_environments_are_valid_settings(compose: dict[str, Any]) -> None:
    # the secrets an operator must set; every other variable keeps its default
    secrets = {name: "x" * 40 for name in _required(compose)}
    for name, service in _vidpipe_services(compose).items():
        env = {k: _interpolate(str(v), secrets) for k, v in service["environment"].items()}
        settings = Settings.from_env(env)  # raises ConfigError naming a bad variable
        assert settings.kafka_bootstrap_servers == "kafka:9092", name
        assert settings.storage_url.startswith("s3://"), name


def _interpolated(compose: Any) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", yaml.safe_dump(compose)))


def _required(compose: Any) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+):\?", yaml.safe_dump(compose)))


def test_every_compose_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    example = (INFRA / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, flags=re.M))
    assert _interpolated(compose) <= listed
    uncommented = set(re.findall(r"^([A-Z0-9_]+)=", example, flags=re.M))
    assert _required(compose) <= uncommented, "a required secret is commented out"


def test_compose_references_resolve(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_prometheus_loads_the_alert_rules(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((INFRA / "prometheus.yml").read_text())
    mounts = compose["services"]["prometheus"]["volumes"]
    for rule_file in config["rule_files"]:
        assert f"./{rule_file}:/etc/prometheus/{rule_file}:ro" in mounts


def test_grafana_is_provisioned_with_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(m.split(":")[:2] for m in grafana["volumes"])
    provisioning = INFRA / "grafana" / "provisioning"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["uid"] == dashboard.DATASOURCE["uid"]
    assert source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "vidpipe.yml").read_text())[
        "providers"
    ]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert dashboard.OUT.read_text() == dashboard.render(), "python -m tools.dashboard"


def test_every_alert_has_a_runbook_section() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^#{2,4}\s+`?(\w+)`?\s*$", guide, re.M)}
    for group in yaml.safe_load((INFRA / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            assert name.lower() in headings, f"docs/operations.md has no section {name}"
            assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"


# -- Kubernetes ------------------------------------------------------------------------------


def _docs(directory: Path) -> list[dict[str, Any]]:
    """The objects of the files the directory's kustomization lists as resources (its
    patches are not objects)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        if (directory / name).is_file():
            docs.extend(d for d in yaml.safe_load_all((directory / name).read_text()) if d)
    return docs


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return _docs(K8S / "base")


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def _literals(kustomization: Path) -> dict[str, str]:
    found = {}
    for generator in yaml.safe_load(kustomization.read_text()).get("configMapGenerator", []):
        found.update(item.split("=", 1) for item in generator.get("literals", []))
    return found


def test_every_service_is_a_deployment_with_probes_and_limits(base: list[dict[str, Any]]) -> None:
    deployments = _of(base, "Deployment")
    for name in SERVICE_NAMES:
        (container,) = _pod(deployments[name])["containers"]
        assert container["args"] == [name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        for side in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][side]), (name, side)
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for job in _of(base, "Job").values():
        assert _pod(job)["containers"][0]["resources"]["limits"]


def test_every_workload_has_a_disruption_budget(base: list[dict[str, Any]]) -> None:
    budgets = [
        b["spec"]["selector"]["matchLabels"] for b in _of(base, "PodDisruptionBudget").values()
    ]
    for name, deployment in _of(base, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(b.items() <= labels.items() for b in budgets), f"no PDB for {name}"


def test_termination_grace_covers_the_transcoders(base: list[dict[str, Any]]) -> None:
    pod = _pod(_of(base, "Deployment")["transcoder"])
    # the transcoder hands in-flight jobs over within its grace period, then exits within 5 s
    assert pod["terminationGracePeriodSeconds"] > TranscoderConfig().grace_period_s + 5


def test_transcoders_scale_on_their_groups_lag(base: list[dict[str, Any]]) -> None:
    scaled = _of(base, "ScaledObject")["transcoder"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "transcoder"
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"kafka"}
    assert {t["metadata"]["topic"] for t in triggers} == {JOBS.name, CHUNKS_TOPIC}
    assert {t["metadata"]["consumerGroup"] for t in triggers} == {LAG_GROUP}
    # one pod per WORKER_COUNT uncommitted records: its slots, queued or running
    (container,) = _pod(_of(base, "Deployment")["transcoder"])["containers"]
    slots = {e["name"]: e.get("value") for e in container["env"]}["WORKER_COUNT"]
    assert {t["metadata"]["lagThreshold"] for t in triggers} == {slots}
    # KEDA reads the brokers from the transcoder container's environment (its ConfigMap)
    config = _literals(K8S / "base" / "kustomization.yaml")
    assert {t["metadata"]["bootstrapServersFromEnv"] for t in triggers} <= set(config)
    assert container["envFrom"] == [{"configMapRef": {"name": "vidpipe-config"}}]
    assert scaled["spec"]["maxReplicaCount"] <= JOBS.partitions
    hpas = {
        h["spec"]["scaleTargetRef"]["name"] for h in _of(base, "HorizontalPodAutoscaler").values()
    }
    assert hpas == {"ingest", "notifier"}
    for name in (*hpas, "transcoder"):  # an apply must not reset what the autoscaler set
        assert "replicas" not in _of(base, "Deployment")[name]["spec"], name


def test_manifests_set_only_variables_the_services_read(base: list[dict[str, Any]]) -> None:
    read = variables_read()
    for kustomization in K8S.rglob("kustomization.yaml"):
        assert not set(_literals(kustomization)) - read, kustomization
    for workload in [*_of(base, "Deployment").values(), *_of(base, "Job").values()]:
        for container in _pod(workload)["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            assert not names - read, (workload["metadata"]["name"], names - read)


def test_secrets_are_only_referenced() -> None:
    everything = [*_docs(K8S / "base"), *_docs(K8S / "overlays" / "operators")]
    assert not [d for d in everything if d["kind"] == "Secret"]
    secret = re.compile(r"SECRET|PASSWORD|DATABASE_URL|TOKEN|KEY")
    for workload in everything:
        if workload["kind"] not in ("Deployment", "Job"):
            continue
        for container in _pod(workload)["containers"]:
            for env in container.get("env", []):
                if secret.search(env["name"]):
                    assert "secretKeyRef" in env.get("valueFrom", {}), env
    for kustomization in K8S.rglob("kustomization.yaml"):
        assert not {k for k in _literals(kustomization) if secret.search(k)}


def test_only_the_public_services_accept_outside_connections(base: list[dict[str, Any]]) -> None:
    policies = _of(base, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert (
        deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    )
    open_to_all = [
        policy["metadata"]["name"]
        for policy in policies.values()
        for rule in policy["spec"].get("ingress", [])
        if "from" not in rule  # no source restriction: anyone
    ]
    assert open_to_all == []
    # the public port: from the ingress controller's namespace only (it sets X-Forwarded-For)
    (public_rule,) = policies["allow-public-http"]["spec"]["ingress"]
    assert policies["allow-public-http"]["spec"]["podSelector"]["matchLabels"] == {
        "vidpipe.io/public": "true"
    }
    assert [p["port"] for p in public_rule["ports"]] == ["http"]
    assert public_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    public = {
        name
        for name, d in _of(base, "Deployment").items()
        if d["spec"]["template"]["metadata"]["labels"].get("vidpipe.io/public") == "true"
    }
    assert public == {"ingest", "notifier"}
    backends = {
        path["backend"]["service"]["name"]
        for rule in _of(base, "Ingress")["vidpipe"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == public


def test_the_operator_overlay_runs_the_catalogue_on_the_brokers_version() -> None:
    docs = _docs(K8S / "overlays" / "operators")
    topics = {t["spec"]["topicName"]: t["spec"] for t in _of(docs, "KafkaTopic").values()}
    assert set(topics) == {t.name for t in CATALOGUE}
    for topic in CATALOGUE:
        assert topics[topic.name]["partitions"] == topic.partitions
        assert topics[topic.name]["config"] == topic.config
        assert topics[topic.name]["replicas"] >= 3
    (kafka,) = _of(docs, "Kafka").values()
    assert kafka["spec"]["kafka"]["version"] == KAFKA_VERSION
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    literals = _literals(K8S / "overlays" / "operators" / "kustomization.yaml")
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    assert literals["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    (cluster,) = _of(docs, "Cluster").values()
    # CloudNativePG names the application secret <cluster>-app; the base reads its uri
    assert f"{cluster['metadata']['name']}-app" == _database_secret(_docs(K8S / "base"))


def _database_secret(base: list[dict[str, Any]]) -> str:
    names = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for workload in [*_of(base, "Deployment").values(), *_of(base, "Job").values()]
        for container in _pod(workload)["containers"]
        for env in container["env"]
        if env["name"] == "DATABASE_URL"
    }
    (name,) = names
    return name


# -- the capacity model ---------------------------------------------------------------------


def test_the_scaling_guide_shows_what_the_capacity_script_prints() -> None:
    printed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "capacity.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert printed.strip() in (ROOT / "docs" / "scaling.md").read_text(), (
        "docs/scaling.md: paste the output of python bench/capacity.py"
    )


def test_the_capacity_model_assumes_the_manifests_slots(
    base: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("capacity", ROOT / "bench" / "capacity.py")
    assert spec is not None and spec.loader is not None
    capacity = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "capacity", capacity)  # its dataclasses look it up
    spec.loader.exec_module(capacity)
    (container,) = _pod(_of(base, "Deployment")["transcoder"])["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert str(capacity.WORKER_COUNT) == env["WORKER_COUNT"]
    assert str(capacity.CORES_PER_SLOT) == env["FFMPEG_THREADS"]
    assert float(container["resources"]["limits"]["cpu"]) == capacity.WORKER_COUNT * 2


# -- Kafka access (SASL) --------------------------------------------------------------------


def test_compose_services_log_in_to_the_broker_as_its_scram_user(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "SASL_PLAINTEXT://kafka:9092"
    assert "PLAINTEXT://:" not in env["KAFKA_LISTENERS"].replace("SASL_PLAINTEXT", "")
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    script = kafka["entrypoint"][-1]
    assert '--add-scram "SCRAM-SHA-512=[name=$$SCRAM_USER,password=$$SCRAM_PASSWORD]"' in script
    assert "exec /etc/kafka/docker/run" in script
    assert "--command-config /tmp/client.properties" in kafka["healthcheck"]["test"][-1]
    for name, service in _vidpipe_services(compose).items():
        vidpipe = service["environment"]
        assert vidpipe["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert vidpipe["KAFKA_SASL_MECHANISM"] == env["KAFKA_SASL_ENABLED_MECHANISMS"], name
        assert vidpipe["KAFKA_SASL_USERNAME"] == env["SCRAM_USER"], name
        assert vidpipe["KAFKA_SASL_PASSWORD"] == env["SCRAM_PASSWORD"], name
    assert compose["services"]["topics"]["command"] == ["topics"]


def test_the_operator_overlay_logs_in_to_kafka_as_its_user() -> None:
    overlay = K8S / "overlays" / "operators"
    docs = _docs(overlay)
    (kafka,) = _of(docs, "Kafka").values()
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["authentication"] == {"type": "scram-sha-512"}, listener["name"]
    assert "userOperator" in kafka["spec"]["entityOperator"]
    (user,) = _of(docs, "KafkaUser").values()
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    literals = _literals(overlay / "kustomization.yaml")
    assert literals["KAFKA_SASL_USERNAME"] == user["metadata"]["name"]
    # the password: from the Secret the User Operator names after the user, in every workload
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    patched = {
        p["target"]["kind"] for p in kustomization["patches"] if p["path"] == "kafka-password.yaml"
    }
    assert patched == {"Deployment", "Job"}
    (op,) = yaml.safe_load((overlay / "kafka-password.yaml").read_text())
    assert op["value"] == {
        "name": "KAFKA_SASL_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": user["metadata"]["name"], "key": "password"}},
    }
    assert op["value"]["name"] in variables_read()
    env = {**_literals(K8S / "base" / "kustomization.yaml"), **literals}
    security = Settings.from_env({**env, "KAFKA_SASL_PASSWORD": "generated"}).kafka_security()
    assert (security.protocol, security.mechanism) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    # KEDA: each lag trigger logs in through the TriggerAuthentication, as the same user
    (auth,) = _of(docs, "TriggerAuthentication").values()
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": user["metadata"]["name"], "key": "password"}
    ]
    (username,) = auth["spec"]["env"]
    assert username["name"] == "KAFKA_SASL_USERNAME" and username["containerName"] == "transcoder"
    ops = yaml.safe_load((overlay / "keda-sasl.yaml").read_text())
    triggers = _of(_docs(K8S / "base"), "ScaledObject")["transcoder"]["spec"]["triggers"]
    for index in range(len(triggers)):
        assert {
            "op": "add",
            "path": f"/spec/triggers/{index}/metadata/sasl",
            "value": "scram_sha512",
        } in ops
        assert {
            "op": "add",
            "path": f"/spec/triggers/{index}/authenticationRef",
            "value": {"name": auth["metadata"]["name"]},
        } in ops
