"""Service settings: one validated object, read from the environment once at start.

Every setting has a documented default. A bad value is refused with a
:class:`ConfigError` that names the environment variable, so the worker never
starts half-configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

from streams.exceptions import ConfigError

__all__ = ["LogFormat", "Settings"]

LogFormat = Literal["auto", "json", "console"]
T = TypeVar("T")

ENV_PREFIX = "AFTERSALES_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Worker settings.

    Environment variables: ``KAFKA_BOOTSTRAP_SERVERS`` and, for the rest,
    ``AFTERSALES_<FIELD>`` (e.g. ``AFTERSALES_TOPIC_PREFIX``).
    """

    #: Comma-separated ``host:port`` list of Kafka brokers.
    kafka_bootstrap_servers: str = "localhost:9092"
    #: Prefix of every topic name (``<prefix>orders``, ``<prefix>alerts`` ...).
    topic_prefix: str = "aftersales."
    #: Partitions for topics the service creates (inputs in the demo, internal topics).
    topic_partitions: int = 4
    #: Consumer-group / application id; internal topics are named after it.
    app_id: str = "aftersales-monitor"
    #: Port of the HTTP server that serves ``/metrics`` (all interfaces).
    web_port: int = 6066
    #: Host the HTTP server binds to.
    web_host: str = "0.0.0.0"  # noqa: S104 - a metrics endpoint in a container must be reachable
    #: ``json`` (production), ``console`` (humans) or ``auto`` (console on a TTY).
    log_format: LogFormat = "auto"
    #: Minimum log level.
    log_level: str = "INFO"
    #: Rules file (TOML); empty means the shipped default.
    rules_file: str = ""
    #: Values larger than this many bytes are dead-lettered unread.
    max_event_bytes: int = 1_048_576
    #: How many recent ``event_id`` values per input partition are remembered for de-duplication
    #: (~150 B each; producer retries repeat an event within seconds, not hours).
    dedup_capacity: int = 50_000
    #: Consumer session timeout. 6 s is Kafka's lowest default-allowed value and makes
    #: a fresh worker ready in ~5 s on the embedded broker (see README, "Broker notes").
    session_timeout_ms: int = 6_000
    #: Heartbeat interval of the consumer group member.
    heartbeat_interval_ms: int = 1_000
    #: Cap on exported per-series gauges per rule (firing series are always exported).
    metrics_series_cap: int = 1_000
    #: How often state is snapshotted and offsets committed; a restart re-reads at most this much.
    checkpoint_interval_ms: int = 5_000
    #: Events stamped further than this ahead of the wall clock are dead-lettered.
    max_future_ms: int = 86_400_000
    #: Child processes that run stage 1 (intake), splitting the input partitions between
    #: them, so the intake and the closer use several cores; 0 runs it in this process.
    #: Stage 1 costs ~4x the closer's CPU per event: two children saturate 2 cores.
    intake_processes: int = 2
    #: ``/health`` reports not ready when a consumer with a backlog has consumed nothing
    #: for this long (see README, "Health").
    stall_timeout_ms: int = 60_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``), validating every field."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = env_name(field.name)
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            parse = _PARSERS.get(field.name, _str)
            values[field.name] = _parse(name, raw, parse)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        checks: list[tuple[str, bool, str]] = [
            ("kafka_bootstrap_servers", _valid_servers(self.kafka_bootstrap_servers),
             "expected host:port[,host:port...]"),
            ("topic_prefix", _valid_topic_chars(self.topic_prefix),
             "may contain only letters, digits, '.', '_' and '-'"),
            ("topic_partitions", 1 <= self.topic_partitions <= 1024, "expected 1..1024"),
            ("app_id", bool(self.app_id) and _valid_topic_chars(self.app_id),
             "must be non-empty letters, digits, '.', '_' and '-'"),
            ("web_port", 0 <= self.web_port <= 65535, "expected 0..65535"),
            ("log_format", self.log_format in ("auto", "json", "console"),
             "expected auto, json or console"),
            ("log_level", self.log_level.upper() in _LEVELS, f"expected one of {sorted(_LEVELS)}"),
            ("max_event_bytes", 1_024 <= self.max_event_bytes <= 64 * 1_048_576,
             "expected 1024..67108864"),
            ("dedup_capacity", 0 <= self.dedup_capacity <= 50_000_000, "expected 0..50000000"),
            ("session_timeout_ms", 1_000 <= self.session_timeout_ms <= 300_000,
             "expected 1000..300000"),
            ("heartbeat_interval_ms",
             100 <= self.heartbeat_interval_ms < self.session_timeout_ms,
             "expected 100..session_timeout_ms"),
            ("metrics_series_cap", 0 <= self.metrics_series_cap <= 1_000_000,
             "expected 0..1000000"),
            ("checkpoint_interval_ms", 100 <= self.checkpoint_interval_ms <= 600_000,
             "expected 100..600000"),
            ("max_future_ms", 0 <= self.max_future_ms <= 3_650 * 86_400_000,
             "expected 0..315360000000 (ten years)"),
            ("intake_processes", 0 <= self.intake_processes <= 64, "expected 0..64"),
            ("stall_timeout_ms", 1_000 <= self.stall_timeout_ms <= 3_600_000,
             "expected 1000..3600000"),
        ]
        for field_name, ok, expected in checks:
            if not ok:
                value = getattr(self, field_name)
                raise ConfigError(env_name(field_name), f"invalid value {value!r}: {expected}")

    def topic(self, short_name: str) -> str:
        """Full topic name for a short name like ``orders`` or ``alerts``."""
        return f"{self.topic_prefix}{short_name}"


def env_name(field_name: str) -> str:
    """Environment variable that sets ``field_name``."""
    if field_name == "kafka_bootstrap_servers":
        return "KAFKA_BOOTSTRAP_SERVERS"
    return ENV_PREFIX + field_name.upper()


_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


def _str(raw: str) -> str:
    return raw.strip()


def _int(raw: str) -> int:
    return int(raw.strip().replace("_", ""))


def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(name, f"cannot parse {raw!r}: {exc}") from None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "topic_partitions": _int,
    "web_port": _int,
    "max_event_bytes": _int,
    "dedup_capacity": _int,
    "session_timeout_ms": _int,
    "heartbeat_interval_ms": _int,
    "metrics_series_cap": _int,
    "checkpoint_interval_ms": _int,
    "max_future_ms": _int,
    "intake_processes": _int,
    "stall_timeout_ms": _int,
    "log_format": lambda raw: raw.strip().lower(),
    "log_level": lambda raw: raw.strip().upper(),
}


def _valid_servers(value: str) -> bool:
    parts = [p.strip() for p in value.split(",")]
    for part in parts:
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            return False
    return True


def _valid_topic_chars(value: str) -> bool:
    return all(c.isalnum() or c in "._-" for c in value)
