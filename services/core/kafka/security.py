"""How vidpipe's Kafka clients authenticate to the broker: SASL (SCRAM, PLAIN) and TLS.

``KafkaSecurity`` is built once from the settings (``Settings.kafka_security``) and handed to
every client vidpipe makes; ``client_options`` turns it into aiokafka's keyword arguments.
The default, ``PLAINTEXT``, adds none: the embedded broker of ``vidpipe up`` and the tests.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """A client's security options (``KAFKA_SECURITY_PROTOCOL`` and its companions)."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log or a traceback
    cafile: Path | None = None
    """The CA bundle that signed the broker's certificate (TLS); unset: the system's."""

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context that verifies the broker, or ``None`` without TLS."""
        if not self.tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(self.cafile) if self.cafile else None
        )
        return context


PLAINTEXT = KafkaSecurity()


def client_options(security: KafkaSecurity) -> dict[str, Any]:
    """aiokafka's keyword arguments for ``security`` (none for ``PLAINTEXT``)."""
    if security.protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.sasl:
        options.update(
            sasl_mechanism=security.mechanism,
            sasl_plain_username=security.username,
            sasl_plain_password=security.password,
        )
    if security.tls:
        options["ssl_context"] = security.ssl_context()
    return options
