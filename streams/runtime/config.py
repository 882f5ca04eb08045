"""Service settings: one validated object, read from the environment once at start.

Size: every setting of the service in one validated object (the style rule:
configuration in one place), with the parsers that name the variable in each error.

Every setting has a documented default. A bad value is refused with a
:class:`ConfigError` that names the environment variable, so the worker never
starts half-configured.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, TypeVar

from alerts.locales import LOCALES, Locale
from streams.exceptions import ConfigError
from streams.runtime.kafka_tls import SASL_PROTOCOLS, TLS_PROTOCOLS, build_ssl_context

__all__ = ["LogFormat", "PersonalLabels", "Settings", "unknown_variables"]

LogFormat = Literal["auto", "json", "console"]
PersonalLabels = Literal["hash", "drop", "keep"]
T = TypeVar("T")

ENV_PREFIX = "AFTERSALES_"
#: Read at start into ``kafka_sasl_password`` (instead of ``KAFKA_SASL_PASSWORD``).
PASSWORD_FILE_ENV: Final = "KAFKA_SASL_PASSWORD_FILE"  # noqa: S105 - a variable name
#: Kafka's limit on topic names (group ids and Faust's topics are named after them too).
MAX_TOPIC_NAME: Final = 249
#: Suffixes the service appends: ``<prefix>dead-letter`` is the longest name under the prefix;
#: ``<prefix><app id>.intake-state`` the longest internal topic; Faust names its leader
#: topic ``<app id>-host-__assignor-__leader`` and its data directory ``<app id>-host-data``.
_LONGEST_TOPIC = "dead-letter"
_LONGEST_INTERNAL = ".intake-state"
_FAUST_LEADER = "-host-__assignor-__leader"
SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


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
    #: Port of the HTTP server that serves ``/metrics`` and ``/health``.
    web_port: int = 6066
    #: Interface the HTTP server binds to: loopback unless opened on purpose
    #: (the container image sets ``0.0.0.0``).
    web_host: str = "127.0.0.1"
    #: ``json`` (production), ``console`` (humans) or ``auto`` (console on a TTY).
    log_format: LogFormat = "auto"
    #: Minimum log level.
    log_level: str = "INFO"
    #: Rules file (TOML); empty means the shipped default.
    rules_file: str = ""
    #: Promotion calendar (TOML, see docs/on-call.md); empty means none.
    calendar_file: str = ""
    #: Band widening per net false on-call verdict beyond a series' first (docs/on-call.md).
    feedback_step: float = 0.15
    #: Limit of the feedback band multiplier: no series gets a band wider than this many
    #: times the configured one.
    feedback_max_multiplier: float = 1.6
    #: Values larger than this many bytes are dead-lettered unread.
    max_event_bytes: int = 1_048_576
    #: How many recent ``event_id`` values per input partition are remembered for de-duplication
    #: (~150 B each; producer retries repeat an event within seconds, not hours).
    dedup_capacity: int = 50_000
    #: Consumer session timeout. 6 s is Kafka's lowest default-allowed value and makes
    #: a fresh worker ready in ~5 s on the embedded broker (docs/architecture.md, broker notes).
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
    #: Customer and address ids in Prometheus labels: ``hash`` (keyed hash), ``drop`` or ``keep``.
    personal_labels: PersonalLabels = "hash"
    #: Secret key of that hash; empty derives it from ``app_id`` (stable, but guessable).
    personal_labels_key: str = ""
    #: Replication factor of the topics the service creates; -1: the broker's default
    #: (``default.replication.factor``).
    topic_replication_factor: int = -1
    #: ``min.insync.replicas`` of the topics the service creates; 0: the broker's default.
    topic_min_insync_replicas: int = 0
    #: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
    kafka_security_protocol: str = "PLAINTEXT"
    #: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (required with SASL).
    kafka_sasl_mechanism: str = ""
    #: SASL user name (required with SASL).
    kafka_sasl_username: str = ""
    #: SASL password (required with SASL; or ``KAFKA_SASL_PASSWORD_FILE``). Never shown.
    kafka_sasl_password: str = field(default="", repr=False)
    #: PEM file of the CAs that sign the brokers' certificates; empty: the system CAs.
    kafka_ssl_cafile: str = ""
    #: PEM client certificate (mutual TLS); needs ``kafka_ssl_keyfile``.
    kafka_ssl_certfile: str = ""
    #: PEM private key of the client certificate (not encrypted).
    kafka_ssl_keyfile: str = ""
    #: A state snapshot larger than this (bytes, before compression) is refused with an
    #: error log and ``aftersales_snapshot_too_large_total``, instead of stalling the loop.
    max_snapshot_bytes: int = 128 * 1_048_576
    #: ``/health`` reports not ready when a consumer with a backlog has consumed nothing
    #: for this long (see docs/operations.md, "Health").
    stall_timeout_ms: int = 60_000
    #: Language of alert summaries and runbooks, the demo's console and the replay
    #: report: ``en`` or ``zh_CN`` (see docs/china.md).
    locale: Locale = "en"
    #: Score each order's after-sales risk (topic ``aftersales.order-risk``,
    #: docs/order-risk.md). ``false`` saves the scorer's CPU (about 40 % of the
    #: pipeline's) and memory (about 430 bytes a customer); every rule still runs.
    risk_score: bool = True
    #: Grafana's base URL, for links to the band view in notifications; empty: no link.
    grafana_url: str = ""
    #: ``aftersales notify-bridge``: interface and port it listens on for Alertmanager.
    bridge_host: str = "127.0.0.1"
    bridge_port: int = 9095
    #: DingTalk custom robot webhook (``https://oapi.dingtalk.com/robot/send?access_token=...``).
    dingtalk_webhook: str = field(default="", repr=False)
    #: DingTalk robot "加签" secret (``SEC...``), or ``AFTERSALES_DINGTALK_SECRET_FILE``.
    dingtalk_secret: str = field(default="", repr=False)
    #: Feishu/Lark custom bot webhook (``https://open.feishu.cn/open-apis/bot/v2/hook/...``).
    feishu_webhook: str = field(default="", repr=False)
    #: Feishu bot signature secret, or ``AFTERSALES_FEISHU_SECRET_FILE``.
    feishu_secret: str = field(default="", repr=False)
    #: Retries of a failed delivery to DingTalk/Feishu (with 1 s, 2 s, 4 s ... back-off).
    bridge_retries: int = 3
    #: Timeout of one delivery attempt.
    bridge_timeout_ms: int = 10_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``), validating every field."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = env_name(spec.name)
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            parse = _PARSERS.get(spec.name, _str)
            values[spec.name] = _parse(name, raw, parse)
        password_file = env.get(PASSWORD_FILE_ENV, "").strip()
        if password_file:
            if "kafka_sasl_password" in values:
                raise ConfigError(
                    PASSWORD_FILE_ENV,
                    "set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both",
                )
            values["kafka_sasl_password"] = _read_password(password_file)
        for secret in ("dingtalk_secret", "feishu_secret"):
            file_env = env_name(secret) + "_FILE"
            secret_file = env.get(file_env, "").strip()
            if secret_file:
                if secret in values:
                    raise ConfigError(
                        file_env, f"set either {env_name(secret)} or {file_env}, not both"
                    )
                values[secret] = _read_password(secret_file, file_env)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        problem = _servers_problem(self.kafka_bootstrap_servers)
        if problem is not None:
            raise ConfigError(env_name("kafka_bootstrap_servers"), problem)
        checks: list[tuple[str, bool, str]] = [
            (
                "topic_prefix",
                _valid_topic_chars(self.topic_prefix),
                "may contain only letters, digits, '.', '_' and '-'",
            ),
            ("topic_partitions", 1 <= self.topic_partitions <= 1024, "expected 1..1024"),
            (
                "app_id",
                bool(self.app_id) and _valid_topic_chars(self.app_id),
                "must be non-empty letters, digits, '.', '_' and '-'",
            ),
            ("web_port", 0 <= self.web_port <= 65535, "expected 0..65535"),
            (
                "log_format",
                self.log_format in ("auto", "json", "console"),
                "expected auto, json or console",
            ),
            ("log_level", self.log_level.upper() in _LEVELS, f"expected one of {sorted(_LEVELS)}"),
            (
                "max_event_bytes",
                1_024 <= self.max_event_bytes <= 64 * 1_048_576,
                "expected 1024..67108864",
            ),
            ("dedup_capacity", 0 <= self.dedup_capacity <= 50_000_000, "expected 0..50000000"),
            (
                "session_timeout_ms",
                1_000 <= self.session_timeout_ms <= 300_000,
                "expected 1000..300000",
            ),
            (
                "heartbeat_interval_ms",
                100 <= self.heartbeat_interval_ms < self.session_timeout_ms,
                "expected 100..session_timeout_ms",
            ),
            (
                "metrics_series_cap",
                0 <= self.metrics_series_cap <= 1_000_000,
                "expected 0..1000000",
            ),
            (
                "checkpoint_interval_ms",
                100 <= self.checkpoint_interval_ms <= 600_000,
                "expected 100..600000",
            ),
            (
                "max_future_ms",
                0 <= self.max_future_ms <= 3_650 * 86_400_000,
                "expected 0..315360000000 (ten years)",
            ),
            ("intake_processes", 0 <= self.intake_processes <= 64, "expected 0..64"),
            (
                "personal_labels",
                self.personal_labels in ("hash", "drop", "keep"),
                "expected hash, drop or keep",
            ),
            (
                "web_host",
                _valid_host(self.web_host),
                "expected an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0",
            ),
            (
                "topic_replication_factor",
                self.topic_replication_factor == -1 or 1 <= self.topic_replication_factor <= 32_767,
                "expected -1 (the broker's default) or 1..32767",
            ),
            (
                "topic_min_insync_replicas",
                0 <= self.topic_min_insync_replicas <= 32_767,
                "expected 0 (the broker's default) or 1..32767",
            ),
            (
                "topic_min_insync_replicas",
                self.topic_replication_factor == -1
                or self.topic_min_insync_replicas <= self.topic_replication_factor,
                (
                    f"must not exceed AFTERSALES_TOPIC_REPLICATION_FACTOR "
                    f"({self.topic_replication_factor}): no write could succeed"
                ),
            ),
            (
                "max_snapshot_bytes",
                1_048_576 <= self.max_snapshot_bytes <= 4_294_967_296,
                "expected 1048576..4294967296",
            ),
            (
                "stall_timeout_ms",
                1_000 <= self.stall_timeout_ms <= 3_600_000,
                "expected 1000..3600000",
            ),
            ("locale", self.locale in LOCALES, f"expected {' or '.join(LOCALES)}"),
            (
                "grafana_url",
                not self.grafana_url or _http_url(self.grafana_url),
                "expected an http(s):// URL, e.g. http://grafana.example.com:3000",
            ),
            (
                "bridge_host",
                _valid_host(self.bridge_host),
                "expected an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0",
            ),
            ("bridge_port", 0 <= self.bridge_port <= 65535, "expected 0..65535"),
            (
                "dingtalk_webhook",
                not self.dingtalk_webhook or _http_url(self.dingtalk_webhook),
                "expected an http(s):// URL",
            ),
            (
                "feishu_webhook",
                not self.feishu_webhook or _http_url(self.feishu_webhook),
                "expected an http(s):// URL",
            ),
            ("bridge_retries", 0 <= self.bridge_retries <= 10, "expected 0..10"),
            ("bridge_timeout_ms", 100 <= self.bridge_timeout_ms <= 120_000, "expected 100..120000"),
            ("feedback_step", 0 < self.feedback_step <= 1, "expected a number in (0, 1]"),
            (
                "feedback_max_multiplier",
                1 <= self.feedback_max_multiplier <= 3,
                "expected a number in 1..3",
            ),
        ]
        for field_name, ok, expected in checks:
            if not ok:
                shown = (
                    "(hidden: it holds an access token)"
                    if field_name in _SECRET_URLS
                    else _shown(getattr(self, field_name))
                )
                raise ConfigError(env_name(field_name), f"invalid value {shown}: {expected}")
        self._validate_name_lengths()
        self._validate_security()

    def _validate_name_lengths(self) -> None:
        """Topic names derived from the prefix and app id stay within Kafka's 249 characters."""
        longest = self.topic(_LONGEST_TOPIC)
        if len(longest) > MAX_TOPIC_NAME:
            raise ConfigError(
                env_name("topic_prefix"),
                f"too long ({len(self.topic_prefix)} "
                f"characters): topic {longest[:40]}... would exceed Kafka's "
                f"{MAX_TOPIC_NAME} characters",
            )
        internal = f"{self.topic_prefix}{self.app_id}{_LONGEST_INTERNAL}"
        faust_topic = f"{self.app_id}{_FAUST_LEADER}"
        if max(len(internal), len(faust_topic)) > MAX_TOPIC_NAME:
            limit = MAX_TOPIC_NAME - max(
                len(self.topic_prefix) + len(_LONGEST_INTERNAL), len(_FAUST_LEADER)
            )
            raise ConfigError(
                env_name("app_id"),
                f"too long ({len(self.app_id)} characters): "
                f"with AFTERSALES_TOPIC_PREFIX={self.topic_prefix!r} at most "
                f"{limit}, so that the topics named after it stay within "
                f"Kafka's {MAX_TOPIC_NAME} characters",
            )

    def _validate_security(self) -> None:
        """The security protocol, SASL credentials and TLS files fit together and load."""
        protocol = self.kafka_security_protocol
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                "KAFKA_SECURITY_PROTOCOL",
                f"invalid value {protocol!r}: expected one of {', '.join(SECURITY_PROTOCOLS)}",
            )
        sasl = {
            "KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "KAFKA_SASL_PASSWORD": self.kafka_sasl_password,
        }
        tls = {
            "KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        for group, used, what in (
            (sasl, protocol in SASL_PROTOCOLS, "SASL"),
            (tls, protocol in TLS_PROTOCOLS, "TLS"),
        ):
            for name, value in group.items():
                if value and not used:
                    raise ConfigError(
                        name,
                        f"is set but KAFKA_SECURITY_PROTOCOL={protocol} "
                        f"does not use {what}; set KAFKA_SECURITY_PROTOCOL "
                        f"or unset {name}",
                    )
        if protocol in SASL_PROTOCOLS:
            if self.kafka_sasl_mechanism not in SASL_MECHANISMS:
                shown = repr(self.kafka_sasl_mechanism) if self.kafka_sasl_mechanism else "unset"
                raise ConfigError(
                    "KAFKA_SASL_MECHANISM",
                    f"{shown}: expected one of {', '.join(SASL_MECHANISMS)} with {protocol}",
                )
            if not self.kafka_sasl_username:
                raise ConfigError("KAFKA_SASL_USERNAME", f"required with {protocol}")
            if not self.kafka_sasl_password:
                raise ConfigError(
                    "KAFKA_SASL_PASSWORD", f"required with {protocol} (or KAFKA_SASL_PASSWORD_FILE)"
                )
        if protocol in TLS_PROTOCOLS:
            if self.kafka_ssl_certfile and not self.kafka_ssl_keyfile:
                raise ConfigError(
                    "KAFKA_SSL_KEYFILE",
                    "required with KAFKA_SSL_CERTFILE (the client certificate's key)",
                )
            if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
                raise ConfigError("KAFKA_SSL_CERTFILE", "required with KAFKA_SSL_KEYFILE")
            for name, path in tls.items():
                if path:
                    _check_readable(name, path)
            build_ssl_context(
                self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile
            )

    @property
    def personal_labels_secret(self) -> bytes:
        """HMAC key for hashed personal labels: the configured key, else one from ``app_id``."""
        if self.personal_labels_key:
            return self.personal_labels_key.encode("utf-8", "surrogatepass")
        return f"aftersales-monitor|{self.app_id}".encode()

    def topic(self, short_name: str) -> str:
        """Full topic name for a short name like ``orders`` or ``alerts``."""
        return f"{self.topic_prefix}{short_name}"


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``AFTERSALES_*`` variables that set nothing, each with the closest known name (or None).

    A typo such as ``AFTERSALES_WEBPORT`` would otherwise be ignored in silence.
    """
    env = os.environ if environ is None else environ
    known = [env_name(field.name) for field in fields(Settings)]
    unknown = sorted(
        name
        for name in env
        if name.startswith(ENV_PREFIX) and name not in known and name not in _NOT_SETTINGS
    )
    return [(name, _closest(name, known)) for name in unknown]


def _closest(name: str, known: list[str]) -> str | None:
    """The known variable whose name after the prefix is closest to ``name``'s, if any."""
    suffixes = {variable.removeprefix(ENV_PREFIX): variable for variable in known}
    match = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), list(suffixes), n=1)
    return suffixes[match[0]] if match else None


def env_name(field_name: str) -> str:
    """Environment variable that sets ``field_name``."""
    if field_name.startswith("kafka_"):
        return field_name.upper()
    return ENV_PREFIX + field_name.upper()


_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+")
_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
#: ``AFTERSALES_*`` variables that are not settings fields: the secret files (read into
#: ``dingtalk_secret``/``feishu_secret``) and one read by the test suite.
_NOT_SETTINGS = frozenset(
    {
        "AFTERSALES_REQUIRE_DEPLOY_TOOLS",
        "AFTERSALES_DINGTALK_SECRET_FILE",
        "AFTERSALES_FEISHU_SECRET_FILE",
    }
)
#: Settings whose value is never shown in an error (webhook URLs carry access tokens).
_SECRET_URLS = frozenset({"dingtalk_webhook", "feishu_webhook"})


def _str(raw: str) -> str:
    return raw.strip()


def _int(raw: str) -> int:
    return int(raw.strip().replace("_", ""))


_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word not in _TRUE | _FALSE:
        msg = "expected true or false"
        raise ValueError(msg)
    return word in _TRUE


def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(name, f"cannot parse {_shown(raw)}: {exc}") from None


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
    "topic_replication_factor": _int,
    "topic_min_insync_replicas": _int,
    "kafka_security_protocol": lambda raw: raw.strip().upper(),
    "kafka_sasl_mechanism": lambda raw: raw.strip().upper(),
    "kafka_sasl_password": lambda raw: raw,
    "max_snapshot_bytes": _int,
    "stall_timeout_ms": _int,
    "feedback_step": lambda raw: float(raw.strip()),
    "feedback_max_multiplier": lambda raw: float(raw.strip()),
    "log_format": lambda raw: raw.strip().lower(),
    "log_level": lambda raw: raw.strip().upper(),
    "personal_labels": lambda raw: raw.strip().lower(),
    "personal_labels_key": lambda raw: raw,
    "locale": lambda raw: {"zh-cn": "zh_CN", "zh_cn": "zh_CN"}.get(
        raw.strip().lower(), raw.strip()
    ),
    "risk_score": _bool,
    "bridge_port": _int,
    "bridge_retries": _int,
    "bridge_timeout_ms": _int,
    "dingtalk_secret": lambda raw: raw.strip(),
    "feishu_secret": lambda raw: raw.strip(),
}


def _servers_problem(value: str) -> str | None:
    """Why ``value`` is not a ``host:port[,host:port...]`` list, or ``None``.

    Entries are echoed only when they cannot hold credentials (no ``@``).
    """
    for number, part in enumerate((p.strip() for p in value.split(",")), start=1):
        shown = f"entry {number}" if "@" in part else f"entry {number} {part!r}"
        if "://" in part:
            scheme = part.split("://", 1)[0]
            return (
                f"{shown} has a scheme ({scheme}://): give host:port only and choose "
                f"TLS or SASL with KAFKA_SECURITY_PROTOCOL (e.g. {scheme.upper()})"
                if scheme.upper() in SECURITY_PROTOCOLS
                else f"{shown} has a scheme ({scheme}://): give host:port only; TLS and SASL "
                f"are chosen with KAFKA_SECURITY_PROTOCOL"
            )
        host, sep, port = part.rpartition(":")
        if not sep or not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
            return f"{shown}: expected host:port[,host:port...]"
    return None


def _read_password(path: str, variable: str = PASSWORD_FILE_ENV) -> str:
    """The secret in ``path`` (one trailing newline dropped); errors name ``variable``."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(variable, f"cannot read {path!r}: {reason}") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise ConfigError(variable, f"{path!r} is empty")
    return password


def _check_readable(name: str, path: str) -> None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        raise ConfigError(name, f"cannot read {path!r}: {exc.strerror or exc}") from None


def _shown(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters so an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _valid_host(value: str) -> bool:
    return (
        bool(value)
        and len(value) <= 253
        and all(c.isascii() and (c.isalnum() or c in ".-:_") for c in value)
    )


def _http_url(value: str) -> bool:
    """An absolute ``http(s)://host...`` URL without spaces."""
    return re.fullmatch(r"https?://[A-Za-z0-9.\[\]:_-]+(/\S*)?", value) is not None


def _valid_topic_chars(value: str) -> bool:
    return all(c.isalnum() or c in "._-" for c in value)
