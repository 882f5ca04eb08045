"""Kafka client options: the one place that turns settings into connection arguments.

Every aiokafka consumer, producer and admin client the service creates takes
:func:`client_options` (bootstrap servers, security protocol, TLS context, SASL
credentials); the Faust app takes :func:`faust_broker_urls` and
:func:`faust_credentials`, built from the same settings. A client built any other
way would connect to a secured cluster in plaintext, so none is.

The TLS context is built by :func:`streams.runtime.kafka_tls.build_ssl_context` (re-exported
here), which settings validation also calls at start.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from streams.runtime.kafka_tls import SASL_PROTOCOLS, TLS_PROTOCOLS, build_ssl_context

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from streams.runtime.config import Settings

__all__ = [
    "SASL_PROTOCOLS",
    "TLS_PROTOCOLS",
    "build_ssl_context",
    "client_options",
    "faust_broker_urls",
    "faust_credentials",
]


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin).

    >>> from streams.runtime.config import Settings
    >>> client_options(Settings(kafka_bootstrap_servers="k1:9092"))
    {'bootstrap_servers': 'k1:9092', 'security_protocol': 'PLAINTEXT'}
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": protocol,
    }
    if protocol in TLS_PROTOCOLS:
        options["ssl_context"] = _settings_ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def faust_broker_urls(settings: Settings) -> list[str]:
    """Faust's ``broker`` list: one ``kafka://host:port`` URL per bootstrap server."""
    return [f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")]


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's ``broker_credentials`` for the configured protocol (``None`` for PLAINTEXT).

    Faust turns these into the same aiokafka arguments :func:`client_options` gives.
    """
    from faust.auth import SASLCredentials, SSLCredentials  # the Faust app only

    protocol = settings.kafka_security_protocol
    context = _settings_ssl_context(settings) if protocol in TLS_PROTOCOLS else None
    if protocol in SASL_PROTOCOLS:
        # SASLCredentials picks SASL_SSL when given a context, SASL_PLAINTEXT otherwise.
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def _settings_ssl_context(settings: Settings) -> ssl.SSLContext:
    return build_ssl_context(
        settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    )
