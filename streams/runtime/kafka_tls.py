"""Kafka security protocols and the client TLS context, independent of the settings.

Settings validation calls :func:`build_ssl_context` at start: a missing, unreadable
or malformed CA, certificate or key file is a :class:`~streams.exceptions.ConfigError`
naming its variable, not a traceback at the first connection.
:mod:`streams.runtime.kafka_options` builds the clients' arguments from the settings with it
(a separate module so that the settings and the client options do not import each
other).
"""

from __future__ import annotations

import ssl
from typing import Final

from aiokafka.helpers import create_ssl_context

from streams.exceptions import ConfigError

__all__ = ["SASL_PROTOCOLS", "TLS_PROTOCOLS", "build_ssl_context"]

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
        context: ssl.SSLContext = create_ssl_context(cafile=cafile or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "KAFKA_SSL_CAFILE", f"cannot load CA certificates from {cafile!r}: {_reason(exc)}"
        ) from None
    if certfile:
        _check_pem(certfile, keyfile or certfile)
        try:
            # An empty passphrase: an encrypted key fails here instead of prompting.
            context.load_cert_chain(certfile, keyfile or None, password="")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "KAFKA_SSL_KEYFILE",
                f"cannot load the client certificate "
                f"{certfile!r} with key {keyfile!r}: {_reason(exc)}",
            ) from None
    return context


def _check_pem(certfile: str, keyfile: str) -> None:
    """Name the file at fault before OpenSSL's "PEM lib" error, which names neither."""
    for field, path, wanted in (
        ("KAFKA_SSL_CERTFILE", certfile, b"-----BEGIN CERTIFICATE-----"),
        ("KAFKA_SSL_KEYFILE", keyfile, b"PRIVATE KEY-----"),
    ):
        try:
            with open(path, "rb") as file:
                text = file.read(1_048_576)
        except OSError as exc:
            raise ConfigError(field, f"cannot read {path!r}: {_reason(exc)}") from None
        if wanted not in text:
            raise ConfigError(
                field,
                f"{path!r} holds no PEM "
                f"{'certificate' if field.endswith('CERTFILE') else 'private key'}",
            )
        if field.endswith("KEYFILE") and b"ENCRYPTED" in text:
            raise ConfigError(
                field,
                f"{path!r} is an encrypted private key: give an "
                f"unencrypted one (there is no passphrase setting)",
            )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
