"""The Kafka security options: the settings that make them, aiokafka's and faust's forms, and a
scan that every Kafka client made under ``services/`` is given them.

The scan reads the AST of every module: a call to an aiokafka client constructor must carry
``**client_options(...)``; a call to one of vidpipe's own client factories must say
``security=``; the faust app must get ``broker_credentials=``. Only the embedded broker's
warm-up (``services/cli/broker.py``, a PLAINTEXT broker on loopback) is exempt.
"""

from __future__ import annotations

import ast
import ssl
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from services.analytics.processor import broker_credentials
from services.core.kafka.security import PLAINTEXT, client_options
from services.core.runtime.settings import ConfigError, Settings

SERVICES = Path(__file__).resolve().parents[4] / "services"
AIOKAFKA_CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
FACTORIES = {
    "make_consumer",
    "KafkaEventPublisher",
    "wait_for_broker",
    "ensure_topics",
    "BrokerOffsets",
    "LogReader",
    "Hub",
    "tap",
}
EXEMPT = {SERVICES / "cli" / "broker.py"}
SASL = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9094",
    "KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
    "KAFKA_SASL_USERNAME": "vidpipe",
    "KAFKA_SASL_PASSWORD": "s3cret-password",
}


def settings(**env: str) -> Settings:
    return Settings.from_env({"VIDPIPE_DATA_DIR": "/tmp/vidpipe-unit", **env})


def test_plaintext_adds_no_option() -> None:
    assert settings().kafka_security() == PLAINTEXT
    assert client_options(PLAINTEXT) == {}


def test_sasl_settings_become_aiokafka_options_and_faust_credentials() -> None:
    security = settings(**SASL).kafka_security()
    assert client_options(security) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "vidpipe",
        "sasl_plain_password": "s3cret-password",
    }
    credentials = broker_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("vidpipe", "s3cret-password")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert broker_credentials(PLAINTEXT) is None


def test_tls_protocols_carry_a_verifying_context() -> None:
    sasl_ssl = settings(
        **{**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, KAFKA_SASL_MECHANISM="PLAIN"
    )
    options = client_options(sasl_ssl.kafka_security())
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "PLAIN"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    credentials = broker_credentials(sasl_ssl.kafka_security())
    assert credentials is not None and credentials.protocol.value == "SASL_SSL"
    tls = settings(KAFKA_SECURITY_PROTOCOL="SSL").kafka_security()
    assert set(client_options(tls)) == {"security_protocol", "ssl_context"}
    assert isinstance(broker_credentials(tls), faust.SSLCredentials)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {**SASL, "KAFKA_SASL_USERNAME": ""},
            "KAFKA_SASL_USERNAME: is required when KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT",
        ),
        (
            {**SASL, "KAFKA_SASL_PASSWORD": " "},
            "KAFKA_SASL_PASSWORD: is required when KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT",
        ),
        (
            {"KAFKA_SASL_USERNAME": "vidpipe", "KAFKA_SASL_PASSWORD": "x"},
            "KAFKA_SECURITY_PROTOCOL: is PLAINTEXT, so the KAFKA_SASL_* credentials",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL"}, "KAFKA_SECURITY_PROTOCOL: 'SASL' is not one of"),
        ({**SASL, "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM: 'GSSAPI' is not"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
            "KAFKA_SSL_CAFILE: '/nonexistent/ca.pem' is not a file",
        ),
    ],
)
def test_a_bad_combination_is_one_line_at_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(**env)
    assert str(raised.value).startswith(message), raised.value
    assert "\n" not in str(raised.value)


def test_the_password_is_in_no_repr() -> None:
    found = settings(**SASL)
    assert "s3cret-password" not in repr(found)
    assert "s3cret-password" not in repr(found.kafka_security())


def _calls(tree: ast.AST) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node


def _unsecured() -> Iterator[str]:
    for path in sorted(SERVICES.rglob("*.py")):
        if path in EXEMPT or (path.name == "clients.py" and path.parent.name == "kafka"):
            continue
        for name, call in _calls(ast.parse(path.read_text())):
            keywords = {k.arg for k in call.keywords}
            spread = [
                k.value
                for k in call.keywords
                if k.arg is None
                and isinstance(k.value, ast.Call)
                and getattr(k.value.func, "id", "") == "client_options"
            ]
            where = f"{path.relative_to(SERVICES.parent)}:{call.lineno} {name}"
            if name in AIOKAFKA_CLIENTS and not spread:
                yield f"{where} without **client_options(...)"
            elif name in FACTORIES and "security" not in keywords:
                yield f"{where} without security="
            elif name == "App" and "broker" in keywords and "broker_credentials" not in keywords:
                yield f"{where} without broker_credentials="


def test_every_kafka_client_of_the_services_gets_the_security_options() -> None:
    assert list(_unsecured()) == []


def test_the_scan_sees_the_clients() -> None:
    """The scan is not vacuous: it finds the calls it checks."""
    names = {
        name for path in SERVICES.rglob("*.py") for name, _ in _calls(ast.parse(path.read_text()))
    }
    assert AIOKAFKA_CLIENTS | FACTORIES <= names


async def test_up_refuses_sasl_for_its_embedded_broker(tmp_path: Path) -> None:
    """The embedded broker speaks PLAINTEXT: ``up`` says so before starting anything."""
    from services.cli.stack import Stack

    env = {k: v for k, v in SASL.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    stack = Stack(Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path / "data"), **env}))
    with pytest.raises(ConfigError, match="KAFKA_SECURITY_PROTOCOL: is SASL_PLAINTEXT, but the"):
        await stack.start_infrastructure()
    assert not (tmp_path / "data").exists() and stack.postgres is None
