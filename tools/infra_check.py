"""Offline checks of the deployments in ``infra/`` with the real tools: ``make infra-check``.

There is no cluster and no Docker engine here, so each file is checked by the program that
will read it, run locally:

- ``infra/docker-compose.yml`` loads with compose-go, Docker Compose's own loader
  (``tools/composecheck``: schema, interpolation, merge keys), and refuses to load without
  the secrets ``.env.example`` leaves blank;
- the Grafana dashboard is what ``tools/dashboard.py`` generates;
- ``promtool check config`` / ``check rules`` / ``test rules`` (Debian's ``prometheus``);
- ``nginx -t`` on ``infra/nginx.conf`` (Debian's ``nginx``), see :func:`nginx_config`;
- ``kustomize build`` of each overlay in ``infra/k8s/overlays``, every built-in object
  validated against the Kubernetes OpenAPI schemas shipped by ``kubernetes-validate``
  (strict: unknown fields fail), the custom resources (KEDA, Strimzi, CloudNativePG) against
  the shapes in :data:`CUSTOM_SHAPES` (structural only: their CRDs are not vendored here);
- client addresses (:func:`client_addresses`): nginx overwrites ``X-Forwarded-For`` with the
  peer, Compose trusts it from nginx's network only and Kubernetes from the ingress namespace;
- Compose's services use a MinIO user whose policy reaches their bucket only
  (:func:`storage_user_is_limited`), not MinIO's root credentials.

Usage: ``python -m tools.infra_check --kustomize PATH --composecheck PATH``; one line per
check.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
KUBERNETES_VERSION = "1.33.0"
"""The oldest Kubernetes the manifests target (HPA v2, PDB v1, seccompProfile, sizeLimit)."""

_STR = {"type": "string", "minLength": 1}
_NAMED = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "namespace": _STR, "labels": {"type": "object"}},
}


def _shape(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"metadata": _NAMED, "spec": spec},
    }


# The fields vidpipe sets, with the types their CRDs give them (KEDA 2.x, Strimzi v1beta2,
# CloudNativePG v1). additionalProperties false where a typo would silently do nothing.
CUSTOM_SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _shape(
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": _STR, "kind": _STR, "apiVersion": _STR},
                    "additionalProperties": False,
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": _STR,
                            "name": _STR,
                            # KEDA's trigger metadata is a map of strings
                            "metadata": {"type": "object", "additionalProperties": _STR},
                            "authenticationRef": {"type": "object"},
                        },
                    },
                },
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "Kafka"): _shape(
        {
            "type": "object",
            "required": ["kafka"],
            "properties": {
                "kafka": {
                    "type": "object",
                    "required": ["listeners"],
                    "properties": {
                        "version": _STR,
                        "listeners": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "port", "type", "tls"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                                    "port": {"type": "integer", "minimum": 9092},
                                    "type": {
                                        "enum": [
                                            "internal",
                                            "route",
                                            "loadbalancer",
                                            "nodeport",
                                            "ingress",
                                            "cluster-ip",
                                        ]
                                    },
                                    "tls": {"type": "boolean"},
                                    "authentication": {
                                        "type": "object",
                                        "required": ["type"],
                                        "properties": {
                                            "type": {
                                                "enum": ["scram-sha-512", "tls", "oauth", "custom"]
                                            }
                                        },
                                    },
                                    "networkPolicyPeers": {"type": "array"},
                                },
                            },
                        },
                        "config": {"type": "object"},
                    },
                },
                "entityOperator": {"type": "object"},
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): _shape(
        {
            "type": "object",
            "required": ["replicas", "roles", "storage"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "roles": {"type": "array", "items": {"enum": ["controller", "broker"]}},
                "storage": {"type": "object", "required": ["type"]},
                "resources": {"type": "object"},
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): _shape(
        {
            "type": "object",
            "required": ["authentication"],
            "properties": {
                "authentication": {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["scram-sha-512", "tls", "tls-external"]},
                        "password": {"type": "object"},
                    },
                },
                "authorization": {"type": "object"},
                "quotas": {"type": "object"},
            },
        }
    ),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _shape(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        "properties": {"parameter": _STR, "name": _STR, "key": _STR},
                    },
                },
                "env": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name"],
                        "additionalProperties": False,
                        "properties": {"parameter": _STR, "name": _STR, "containerName": _STR},
                    },
                },
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): _shape(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "topicName": _STR,
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object"},
            },
        }
    ),
    ("postgresql.cnpg.io/v1", "Cluster"): _shape(
        {
            "type": "object",
            "required": ["instances", "storage"],
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": _STR,
                "bootstrap": {
                    "type": "object",
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "properties": {"database": _STR, "owner": _STR},
                        }
                    },
                },
                "storage": {"type": "object", "required": ["size"]},
                "resources": {"type": "object"},
            },
        }
    ),
}


class CheckFailed(Exception):
    pass


def run(argv: list[str], **kwargs: Any) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(argv)}:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def compose(composecheck: str) -> str:
    """Load ``infra/docker-compose.yml`` as Docker Compose would, with and without secrets."""
    path = INFRA / "docker-compose.yml"
    example = (INFRA / ".env.example").read_text()
    required = re.findall(r"^([A-Z0-9_]+)=$", example, flags=re.M)  # left blank to fill in
    given = dict(re.findall(r"^([A-Z0-9_]+)=(.+)$", example, flags=re.M))
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env = {**base, **given, **{name: "check" + "0" * 32 for name in required}}
    names = run([composecheck, str(path)], env=env).split()
    declared = sorted(yaml.safe_load(path.read_text())["services"])
    if names != declared:
        raise CheckFailed(f"compose-go loaded {names}, the file declares {declared}")
    refused = subprocess.run(
        [composecheck, str(path)], env=base, capture_output=True, text=True, check=False
    )
    missing = [
        name for name in required if f"required variable {name} is missing" not in refused.stderr
    ]
    if refused.returncode == 0 or missing:
        raise CheckFailed(f"compose loads without the secrets {missing or required}")
    return (
        f"compose-go: infra/docker-compose.yml loads ({len(names)} services) with the "
        f"variables of .env.example, and refuses to without {', '.join(required)}"
    )


def dashboard() -> str:
    from tools import dashboard as generator

    if generator.main(["--check"]) != 0:
        raise CheckFailed("infra/grafana/dashboards/vidpipe.json is out of date")
    return "dashboard: matches tools/dashboard.py"


def prometheus() -> str:
    run(["promtool", "check", "config", "prometheus.yml"], cwd=INFRA)
    run(["promtool", "check", "rules", "alerts.yml"], cwd=INFRA)
    run(["promtool", "test", "rules", "alerts_test.yml"], cwd=INFRA)
    return "promtool: check config, check rules, test rules (alerts_test.yml) pass"


def nginx_config(conf: str, tmp: Path, version: tuple[int, ...]) -> str:
    """``infra/nginx.conf`` made testable by an unprivileged, older nginx; nothing else.

    Three changes, each because of where the test runs, not what it checks: the worker user
    is whoever runs the test (the image's ``nginx`` user does not exist here), the access log
    goes to ``tmp`` (no root path), and before nginx 1.27.3 (Debian 12 has 1.22) the
    ``resolve`` parameter of upstream servers, which the image's 1.28 supports, is dropped.
    """
    conf = re.sub(r"^user\s+\S+;", f"user {getpass.getuser()};", conf, flags=re.M)
    conf = conf.replace("/var/log/nginx/", f"{tmp}/")
    if version < (1, 27, 3):
        conf = re.sub(r"(server\s+[\w.-]+:\d+)\s+resolve;", r"\1;", conf)
    return conf


def nginx() -> str:
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", run(["nginx", "-v"]))
    assert found, "nginx -v printed no version"
    version = tuple(int(part) for part in found.groups())
    conf = (INFRA / "nginx.conf").read_text()
    hosts = sorted(set(re.findall(r"server\s+([A-Za-z][\w.-]*):\d+", conf)))
    with tempfile.TemporaryDirectory(prefix="vidpipe-nginx-") as name:
        tmp = Path(name)
        (tmp / "nginx.conf").write_text(nginx_config(conf, tmp, version))
        # The upstream hosts are Compose service names: nginx resolves them while it reads the
        # file, so they resolve to loopback here, in a mount namespace with its own /etc/hosts.
        (tmp / "hosts").write_text("127.0.0.1 localhost " + " ".join(hosts) + "\n")
        test = (
            f"mount --bind {tmp}/hosts /etc/hosts && exec nginx -t -p {tmp} "
            f"-c {tmp}/nginx.conf -g 'pid {tmp}/nginx.pid; error_log stderr;'"
        )
        # root: a mount namespace; anyone else: a user namespace too, mapped to root in it
        private = ["--mount"] if os.geteuid() == 0 else ["--map-root-user", "--mount"]
        run(["unshare", *private, "sh", "-c", test])
    return f"nginx -t: infra/nginx.conf is valid for nginx {'.'.join(map(str, version))}"


def nginx_forwards_peer_address(conf: str) -> list[str]:
    """What is wrong with how ``conf`` passes the client's address on (``[]``: nothing).

    Every ``X-Forwarded-For`` nginx sends must be the peer it saw (``$remote_addr``, which
    ``real_ip`` may set from a trusted load balancer), never the client's own list appended to.
    """
    problems = []
    conf = re.sub(r"#.*", "", conf)  # comments may name what not to do
    if "$proxy_add_x_forwarded_for" in conf:
        problems.append("nginx appends to the client's X-Forwarded-For")
    values = re.findall(r"proxy_set_header\s+X-Forwarded-For\s+([^;]+);", conf, flags=re.I)
    if not values:
        problems.append("nginx does not set X-Forwarded-For (the client's header passes)")
    problems += [
        f"X-Forwarded-For set to {v}, not $remote_addr" for v in values if v != "$remote_addr"
    ]
    return problems


def _default(value: str) -> str:
    """A Compose value with ``${NAME:-default}`` replaced by its default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def compose_trusts_the_proxy_only(compose_file: dict[str, Any]) -> list[str]:
    """Whether the Compose services trust ``X-Forwarded-*`` from nginx's network only."""
    services, problems = compose_file["services"], []
    subnets = {
        name: [_default(c["subnet"]) for c in (net or {}).get("ipam", {}).get("config", [])]
        for name, net in (compose_file.get("networks") or {}).items()
    }
    edge = [n for n in services.get("nginx", {}).get("networks", []) if subnets.get(n)]
    for name, service in services.items():
        trusted = (service.get("environment") or {}).get("FORWARDED_ALLOW_IPS")
        if trusted is None:
            continue
        allowed = [_default(part.strip()) for part in str(trusted).split(",")]
        if "*" in allowed:
            problems.append(f"{name}: FORWARDED_ALLOW_IPS is *")
        elif not edge or allowed != subnets[edge[0]]:
            problems.append(f"{name}: FORWARDED_ALLOW_IPS {trusted} is not nginx's network")
        elif edge[0] not in service.get("networks", []):
            problems.append(f"{name}: not on nginx's network {edge[0]}")
    if edge:
        others = [n for n, s in services.items() if edge[0] in s.get("networks", [])]
        strangers = [n for n in others if n != "nginx" and n not in _trusting(services)]
        if strangers:
            problems.append(f"{', '.join(strangers)} can reach the public services as nginx")
    return problems


def _trusting(services: dict[str, Any]) -> set[str]:
    return {n for n, s in services.items() if "FORWARDED_ALLOW_IPS" in (s.get("environment") or {})}


def kubernetes_trusts_the_ingress_only(docs: list[dict[str, Any]]) -> list[str]:
    """Rendered objects: no ``FORWARDED_ALLOW_IPS=*``, and the public pods' port admits only
    the ingress controller's namespace."""
    problems = []
    for doc in docs:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        if kind == "ConfigMap":
            trusted = (doc.get("data") or {}).get("FORWARDED_ALLOW_IPS")
            if trusted is not None and "*" in [part.strip() for part in trusted.split(",")]:
                problems.append(f"ConfigMap/{name}: FORWARDED_ALLOW_IPS is *")
        if kind == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for var in container.get("env", []):
                    if var["name"] == "FORWARDED_ALLOW_IPS" and var.get("value") == "*":
                        problems.append(f"Deployment/{name}: FORWARDED_ALLOW_IPS is *")
        if kind == "NetworkPolicy":
            selected = doc["spec"].get("podSelector", {}).get("matchLabels", {})
            for rule in doc["spec"].get("ingress", []):
                ports = [p.get("port") for p in rule.get("ports", [])]
                if selected.get("vidpipe.io/public") == "true" and "http" in ports:
                    peers = rule.get("from", [])
                    if not peers or any("namespaceSelector" not in peer for peer in peers):
                        problems.append(
                            f"NetworkPolicy/{name}: the public port admits more than the "
                            "ingress controller's namespace"
                        )
    return problems


def client_addresses(rendered: dict[str, list[dict[str, Any]]]) -> str:
    """nginx overwrites X-Forwarded-For; Compose and Kubernetes trust their proxy only."""
    problems = nginx_forwards_peer_address((INFRA / "nginx.conf").read_text())
    problems += compose_trusts_the_proxy_only(
        yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    )
    for overlay, docs in rendered.items():
        problems += [f"{overlay}: {p}" for p in kubernetes_trusts_the_ingress_only(docs)]
    if problems:
        raise CheckFailed("client addresses: " + "; ".join(problems))
    return (
        "client addresses: nginx sets X-Forwarded-For to the peer; Compose trusts nginx's "
        f"network, Kubernetes the ingress namespace ({len(rendered)} overlays)"
    )


def storage_user_is_limited(compose_file: dict[str, Any], infra: Path = INFRA) -> list[str]:
    """Compose's services use a MinIO user whose policy names their bucket only, not root."""
    services, problems = compose_file["services"], []
    setup = services.get("minio-setup", {})
    script = " ".join(str(part) for part in setup.get("entrypoint", []))
    for step in ("mc admin user add", "mc admin policy create", "mc admin policy attach"):
        if step not in script:
            problems.append(f"minio-setup does not run `{step}`")
    policies = [
        infra / volume.split(":")[0] for volume in setup.get("volumes", []) if ".json" in volume
    ]
    buckets = set()
    for name, service in services.items():
        env = service.get("environment") or {}
        url = str(env.get("STORAGE_URL", ""))
        if url.startswith("s3://"):
            buckets.add(url.removeprefix("s3://").split("/")[0])
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if "MINIO_ROOT" in str(env.get(key, "")):
                problems.append(f"{name}: {key} is MinIO's root credential")
    if len(policies) != 1:
        return [*problems, "minio-setup mounts no policy file (.json)"]
    allowed = {f"arn:aws:s3:::{b}" for b in buckets} | {f"arn:aws:s3:::{b}/*" for b in buckets}
    policy = json.loads(policies[0].read_text())
    for statement in policy["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if statement.get("Effect") != "Allow":
            continue
        if not buckets or not set(resources) <= allowed:
            problems.append(f"the policy reaches {resources}, not only {sorted(allowed)}")
        if any(not a.startswith("s3:") or a.endswith("*") for a in actions):
            problems.append(f"the policy allows {actions}: name the S3 actions")
    return problems


def storage_user() -> str:
    compose_file = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    problems = storage_user_is_limited(compose_file)
    if problems:
        raise CheckFailed("MinIO user: " + "; ".join(problems))
    return "MinIO: the services use a user limited to their bucket (infra/minio), not root"


def validate(doc: dict[str, Any]) -> str:
    """Validate one object: Kubernetes' own schema, else the custom resource's shape."""
    shape = CUSTOM_SHAPES.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if shape is not None:
        jsonschema.validate(doc, shape)
        return "shape"
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    return "schema"


def kubernetes(kustomize: str, built: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Build and validate every overlay; ``built`` gets each overlay's objects."""
    lines = []
    for overlay in sorted((INFRA / "k8s" / "overlays").iterdir()):
        rendered = run([kustomize, "build", str(overlay)])
        counts = {"schema": 0, "shape": 0}
        docs = built[overlay.name] = [doc for doc in yaml.safe_load_all(rendered) if doc]
        for doc in docs:
            try:
                counts[validate(doc)] += 1
            except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
                what = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
                raise CheckFailed(f"{overlay.name}: {what}: {exc}") from None
        lines.append(
            f"kustomize build {overlay.relative_to(ROOT)}: {counts['schema']} objects valid for "
            f"Kubernetes {KUBERNETES_VERSION}, {counts['shape']} custom resources well-formed"
        )
    return lines


def kafka_logins(docs: list[dict[str, Any]]) -> list[str]:
    """Rendered objects of an overlay that runs Kafka (Strimzi): its listeners ask for SCRAM,
    and everything that talks to it logs in as the ``KafkaUser``: the services' settings name
    the user and read its password from the Secret the User Operator writes, and the KEDA
    triggers authenticate through a ``TriggerAuthentication`` that exists."""
    kinds: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    problems = []
    users = {
        name for name, user in kinds.get("KafkaUser", {}).items()
        if user["spec"]["authentication"]["type"] == "scram-sha-512"
    }  # fmt: skip
    for name, kafka in kinds.get("Kafka", {}).items():
        for listener in kafka["spec"]["kafka"]["listeners"]:
            if (listener.get("authentication") or {}).get("type") != "scram-sha-512":
                problems.append(f"Kafka/{name}: listener {listener['name']} asks for no SCRAM")
    config = next(  # the generated name carries a hash of the contents
        (
            m.get("data", {})
            for n, m in kinds.get("ConfigMap", {}).items()
            if n.startswith("vidpipe-config")
        ),
        {},
    )
    if config.get("KAFKA_SECURITY_PROTOCOL") != "SASL_PLAINTEXT":
        problems.append("ConfigMap/vidpipe-config: KAFKA_SECURITY_PROTOCOL is not SASL_PLAINTEXT")
    if config.get("KAFKA_SASL_MECHANISM") != "SCRAM-SHA-512":
        problems.append("ConfigMap/vidpipe-config: KAFKA_SASL_MECHANISM is not SCRAM-SHA-512")
    user = config.get("KAFKA_SASL_USERNAME")
    if user not in users:
        problems.append(f"ConfigMap/vidpipe-config: KAFKA_SASL_USERNAME {user} is no KafkaUser")
    for kind in ("Deployment", "Job"):
        for name, workload in kinds.get(kind, {}).items():
            for container in workload["spec"]["template"]["spec"]["containers"]:
                found = {e["name"]: e for e in container.get("env", [])}
                ref = found.get("KAFKA_SASL_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef")
                if ref != {"name": user, "key": "password"}:
                    problems.append(f"{kind}/{name}: KAFKA_SASL_PASSWORD is not the user's Secret")
    auths = kinds.get("TriggerAuthentication", {})
    for name, scaled in kinds.get("ScaledObject", {}).items():
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            ref = (trigger.get("authenticationRef") or {}).get("name")
            if trigger["metadata"].get("sasl") != "scram_sha512" or ref not in auths:
                problems.append(f"ScaledObject/{name}: trigger {trigger.get('name')} logs in not")
    return problems


def kafka_access(built: dict[str, list[dict[str, Any]]]) -> str:
    """``kafka_logins`` of every overlay that runs its own Kafka."""
    checked = []
    for overlay, docs in sorted(built.items()):
        if any(doc["kind"] == "Kafka" for doc in docs):
            problems = kafka_logins(docs)
            if problems:
                raise CheckFailed(f"{overlay}: " + "; ".join(problems))
            checked.append(overlay)
    if not checked:
        raise CheckFailed("no overlay runs Kafka: the SASL check checked nothing")
    return (
        f"kafka access: overlay {', '.join(checked)}: SCRAM-SHA-512 listeners; services and "
        "KEDA log in as the KafkaUser, the password from its Secret"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kustomize", default=shutil.which("kustomize") or "kustomize")
    parser.add_argument("--composecheck", default="composecheck", help="tools/composecheck")
    args = parser.parse_args(argv)
    try:
        print(compose(args.composecheck))
        print(dashboard())
        print(prometheus())
        print(nginx())
        built: dict[str, list[dict[str, Any]]] = {}
        for line in kubernetes(args.kustomize, built):
            print(line)
        print(client_addresses(built))
        print(kafka_access(built))
        print(storage_user())
    except CheckFailed as exc:
        print(f"infra-check failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
