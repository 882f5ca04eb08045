"""Kafka client options: the one place that turns settings into connection arguments.

Every aiokafka consumer, producer and admin client the service creates takes
:func:`client_options` (bootstrap servers, security protocol, TLS context, SASL
credentials); the Faust app takes :func:`faust_broker_urls` and
:func:`faust_credentials`, built from the same settings. A client built any other
way would connect to a secured cluster in plaintext, so none is.

The TLS context is built by :func:`build_ssl_context`, which settings validation
also calls at start: a missing, unreadable or malformed CA, certificate or key
file is a :class:`~streams.exceptions.ConfigError` naming its variable, not a
traceback at the first connection.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any, Final

from aiokafka.helpers import create_ssl_context

from streams.exceptions import ConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from streams.config import Settings

__all__ = ["SASL_PROTOCOLS", "TLS_PROTOCOLS", "build_ssl_context", "client_options",
           "faust_broker_urls", "faust_credentials"]

#: Security protocols that wrap the connection in TLS.
TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
#: Security protocols that authenticate with SASL.
SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


def build_ssl_context(cafile: str, certfile: str, keyfile: str) -> ssl.SSLContext:
    """A client TLS context: the system CAs (or ``cafile``), and a client certificate if given.

    Hostnames are always checked. An encrypted private key is refused (there is no
    setting for its passphrase, and OpenSSL would otherwise prompt on the terminal).
    Raises :class:`ConfigError` naming ``KAFKA_SSL_CAFILE``, ``KAFKA_SSL_CERTFILE`` or
    ``KAFKA_SSL_KEYFILE``.
    """
    try:
        context = create_ssl_context(cafile=cafile or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("KAFKA_SSL_CAFILE",
                          f"cannot load CA certificates from {cafile!r}: {_reason(exc)}") from None
    if certfile:
        _check_pem(certfile, keyfile or certfile)
        try:
            # An empty passphrase: an encrypted key fails here instead of prompting.
            context.load_cert_chain(certfile, keyfile or None, password="")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("KAFKA_SSL_KEYFILE", f"cannot load the client certificate "
                              f"{certfile!r} with key {keyfile!r}: {_reason(exc)}") from None
    return context


def _check_pem(certfile: str, keyfile: str) -> None:
    """Name the file at fault before OpenSSL's "PEM lib" error, which names neither."""
    for field, path, wanted in (("KAFKA_SSL_CERTFILE", certfile, b"-----BEGIN CERTIFICATE-----"),
                                ("KAFKA_SSL_KEYFILE", keyfile, b"PRIVATE KEY-----")):
        try:
            with open(path, "rb") as file:
                text = file.read(1_048_576)
        except OSError as exc:
            raise ConfigError(field, f"cannot read {path!r}: {_reason(exc)}") from None
        if wanted not in text:
            raise ConfigError(field, f"{path!r} holds no PEM "
                              f"{'certificate' if field.endswith('CERTFILE') else 'private key'}")
        if field.endswith("KEYFILE") and b"ENCRYPTED" in text:
            raise ConfigError(field, f"{path!r} is an encrypted private key: give an "
                              f"unencrypted one (there is no passphrase setting)")


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin).

    >>> from streams.config import Settings
    >>> client_options(Settings(kafka_bootstrap_servers="k1:9092"))
    {'bootstrap_servers': 'k1:9092', 'security_protocol': 'PLAINTEXT'}
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers,
                               "security_protocol": protocol}
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
        return SASLCredentials(username=settings.kafka_sasl_username,
                               password=settings.kafka_sasl_password,
                               mechanism=settings.kafka_sasl_mechanism, ssl_context=context)
    if context is not None:
        return SSLCredentials(context)
    return None


def _settings_ssl_context(settings: Settings) -> ssl.SSLContext:
    return build_ssl_context(settings.kafka_ssl_cafile, settings.kafka_ssl_certfile,
                             settings.kafka_ssl_keyfile)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

