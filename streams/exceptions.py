"""Exceptions of the stream layer.

Hierarchy::

    AftersalesError
    ├── ConfigError            a setting or the rules file is invalid (names the field)
    ├── BrokerError            the embedded broker could not start or answer
    ├── TopicError             the service's topics could not be created
    ├── WorkerFailure          the worker cannot go on (its topics vanished, commits keep
    │                          failing, an intake child died): it exits for a restart
    └── InvalidEvent           an input event is rejected (carries a machine-readable reason)
"""

from __future__ import annotations

__all__ = [
    "AftersalesError",
    "BrokerError",
    "ConfigError",
    "InvalidEvent",
    "TopicError",
    "WorkerFailure",
]


class AftersalesError(Exception):
    """Base class of every error this service raises on purpose."""


class ConfigError(AftersalesError):
    """A configuration value is invalid; ``field`` names it (env variable or rules path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BrokerError(AftersalesError):
    """The embedded broker failed to start, answer, or stop."""


class TopicError(AftersalesError):
    """The broker could not be reached or refused to create one of the service's topics."""


class WorkerFailure(AftersalesError):
    """The worker cannot go on; it exits non-zero so a supervisor restarts it (the
    restart re-creates missing topics and resumes from the snapshots)."""


class InvalidEvent(AftersalesError):
    """An input event is rejected.

    ``reason`` is a short machine-readable code (``not_json``, ``missing_field``,
    ...); ``field`` names the offending field when there is one.
    """

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field
