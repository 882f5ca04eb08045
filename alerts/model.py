"""The alert event (contract section 3) and the series it is about.

Both are immutable value types. :class:`AlertEvent` is canonical from
construction: times are UTC with millisecond precision and every float (also
inside ``context``) is rounded to :data:`SIGNIFICANT_DIGITS` significant digits.
Live and replay runs whose floats differ only in the last bits (a different
summation order) therefore produce equal events and byte-identical JSON.

Instant alerts (per-event rules such as ``order_outlier``) are events whose
``window_start == window_end == started_at``: they have no resolved twin.

Examples
--------
>>> ref = SeriesRef("return_rate", "sku", "SKU-00042")
>>> ref.kafka_key
'return_rate:sku:SKU-00042'
>>> round_significant(0.1 + 0.2)
0.3
>>> format_time(ms_to_datetime(1793614500000))
'2026-11-02T10:15:00Z'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, get_args

from alerts.exceptions import AlertValidationError

__all__ = [
    "ANOMALY_CLASSES",
    "RULE_CLASSES",
    "RULE_NAMES",
    "SCHEMA",
    "SIGNIFICANT_DIGITS",
    "AlertEvent",
    "AlertStatus",
    "SeriesRef",
    "anomaly_class",
    "datetime_to_ms",
    "format_time",
    "ms_to_datetime",
    "parse_time",
    "round_significant",
]

SCHEMA: Final = "aftersales.alert/v1"
AnomalyClass = Literal["logistics", "product", "fraud", "pricing", "service", "demand"]
ANOMALY_CLASSES: Final[tuple[str, ...]] = get_args(AnomalyClass)
"""Who an anomaly is for (contract 7.2): alerts carry one as ``class``."""
RULE_CLASSES: Final[Mapping[str, AnomalyClass]] = MappingProxyType(
    {
        "order_volume": "demand",
        "order_outlier": "pricing",
        "customer_order_burst": "fraud",
        "return_rate": "product",
        "complaint_rate": "product",
        "complaint_volume": "service",
        "wait_time_p90": "service",
        "wait_sla_breach_share": "service",
        "handle_time_p90": "service",
        "low_satisfaction_share": "service",
        "bad_review_rate": "product",
        "cancellation_rate": "fraud",
        "delivery_time_p90": "logistics",
        "late_delivery_share": "logistics",
        "lost_parcel": "logistics",
        "refund_delay_p90": "service",
        "frequent_returner": "fraud",
        "shared_address": "fraud",
    }
)
"""Every rule of the catalogue (contract sections 4 and 7.3) and its anomaly class: a new
rule is added here once, and its alerts carry the class without further wiring."""
_ROUTE_FIELDS: Final = frozenset({"region", "carrier"})
_CELL_FIELDS: Final = _ROUTE_FIELDS | {"reason"}


def anomaly_class(rule: str, dimension: str) -> AnomalyClass | None:
    """Who an alert of ``rule`` on ``dimension`` is for: the rule's class, except that a
    product rule judged on a carrier, a region or their cell (with or without ``reason``)
    is logistics': returns or complaints rising on one route are parcels damaged or late
    there, not a product's fault. ``None`` for a rule outside the catalogue.

    >>> anomaly_class("return_rate", "sku"), anomaly_class("return_rate", "region,carrier,reason")
    ('product', 'logistics')
    """
    base = RULE_CLASSES.get(rule)
    fields = frozenset(dimension.split(","))
    if base == "product" and fields & _ROUTE_FIELDS and fields <= _CELL_FIELDS:
        return "logistics"
    return base


RULE_NAMES: Final = tuple(RULE_CLASSES)
"""The contract's rule catalogue (section 4 and the rules of 7.3 built so far)."""
SIGNIFICANT_DIGITS: Final = 9
"""Enough for any after-sales number; far above float noise (~1e-15 relative)."""

AlertStatus = Literal["firing", "resolved"]
_Severity = Literal["info", "warning", "critical"]
_Direction = Literal["up", "down"]
_RULE_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_RE: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class SeriesRef(NamedTuple):
    """One monitored series: a rule over one value of one dimension."""

    rule: str
    dimension: str
    key: str

    @property
    def kafka_key(self) -> str:
        """The alerts topic's record key, ``rule:dimension:key``."""
        return f"{self.rule}:{self.dimension}:{self.key}"


def join_key(values: Iterable[str]) -> str:
    """The key of a compound dimension: its values comma-joined, each with ``\\`` and
    ``,`` escaped by a backslash, so region ``"A,B"`` + carrier ``"C"`` and region ``"A"``
    + carrier ``"B,C"`` stay two series. Values without either character read as before.

    >>> join_key(["A,B", "C"]), join_key(["A", "B,C"]), join_key(["north", "SF"])
    ('A\\\\,B,C', 'A,B\\\\,C', 'north,SF')
    """
    return ",".join(
        v.replace("\\", "\\\\").replace(",", "\\,") if ("," in v or "\\" in v) else v
        for v in values
    )


def split_key(key: str) -> list[str]:
    """Inverse of :func:`join_key`.

    >>> split_key(join_key(["A,B", "C\\\\"]))
    ['A,B', 'C\\\\']
    """
    if "\\" not in key:
        return key.split(",")
    parts, current, chars = [], [], iter(key)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """Round ``value`` to ``digits`` significant digits (``-0.0`` becomes ``0.0``)."""
    if value == 0 or not math.isfinite(value):
        return 0.0 if value == 0 else value
    return float(f"{value:.{digits}g}") + 0.0


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(value: datetime) -> int:
    """Aware datetime to epoch milliseconds (sub-millisecond part truncated)."""
    delta = value - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; milliseconds only when non-zero."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def parse_time(text: str, field_name: str = "time") -> datetime:
    """Parse RFC 3339 (with ``Z`` or an offset) into a UTC datetime."""
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise AlertValidationError(field_name, f"not an RFC 3339 time: {text!r}")
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise AlertValidationError(field_name, f"not an RFC 3339 time: {text!r}") from exc
    return _canonical_time(parsed, field_name)


def _canonical_time(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise AlertValidationError(field_name, "must be a timezone-aware datetime")
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _number(value: object, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlertValidationError(field_name, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise AlertValidationError(field_name, f"must be finite, got {value!r}")
    return round_significant(float(value))


def _optional_number(value: object, field_name: str) -> float | None:
    return None if value is None else _number(value, field_name)


def _text(value: object, field_name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise AlertValidationError(field_name, f"must be a non-empty string, got {value!r}")
    return value


def _choice(value: object, field_name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise AlertValidationError(field_name, f"must be one of {allowed}, got {value!r}")
    return value  # `in` a tuple of str narrowed it to str


def _canonical_json(value: object, path: str) -> Any:
    """Deep-copy a JSON-ready value, rounding floats; reject anything else."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return _number(value, path)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise AlertValidationError(path, f"object keys must be strings, got {k!r}")
            out[k] = _canonical_json(v, f"{path}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_canonical_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise AlertValidationError(path, f"not JSON-ready: {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert event, field for field as in contract section 3.

    Times are aware datetimes (normalised to UTC, millisecond precision);
    numbers are rounded to :data:`SIGNIFICANT_DIGITS`. ``context`` is a
    JSON-ready mapping (treat it as read-only; it does not take part in hashing).
    Construction validates every field and raises :class:`AlertValidationError`
    naming the first bad one.
    """

    schema: str
    alert_id: str
    status: AlertStatus
    rule: str
    dimension: str
    key: str
    severity: _Severity
    direction: _Direction
    observed: float
    baseline: float
    lower: float | None
    upper: float | None
    score: float
    sample_size: int | None
    window_start: datetime
    window_end: datetime
    started_at: datetime
    summary: str
    runbook: str
    context: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: The anomaly class (JSON field ``class``); ``None`` takes :func:`anomaly_class`'s
    #: (and stays ``None`` for a rule outside the catalogue).
    anomaly_class: str | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        if self.schema != SCHEMA:
            raise AlertValidationError("schema", f"must be {SCHEMA!r}, got {self.schema!r}")
        _text(self.alert_id, "alert_id")
        _choice(self.status, "status", get_args(AlertStatus))
        if not isinstance(self.rule, str) or not _RULE_RE.match(self.rule):
            raise AlertValidationError("rule", f"must match [a-z][a-z0-9_]*, got {self.rule!r}")
        _text(self.dimension, "dimension")
        _text(self.key, "key", allow_empty=True)
        _choice(self.severity, "severity", get_args(_Severity))
        _choice(self.direction, "direction", get_args(_Direction))
        put("observed", _number(self.observed, "observed"))
        put("baseline", _number(self.baseline, "baseline"))
        put("lower", _optional_number(self.lower, "lower"))
        put("upper", _optional_number(self.upper, "upper"))
        put("score", _number(self.score, "score"))
        size = self.sample_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise AlertValidationError("sample_size", f"must be an int >= 0 or null, got {size!r}")
        for name in ("window_start", "window_end", "started_at"):
            put(name, _canonical_time(getattr(self, name), name))
        if self.window_start > self.window_end:
            raise AlertValidationError("window_start", "must not be after window_end")
        if self.started_at > self.window_end:
            raise AlertValidationError("started_at", "must not be after window_end")
        _text(self.summary, "summary")
        _text(self.runbook, "runbook")
        context = {} if self.context is None else self.context
        if not isinstance(context, Mapping):
            raise AlertValidationError("context", f"must be an object, got {context!r}")
        put("context", _canonical_json(context, "context"))
        if self.anomaly_class is None:
            put("anomaly_class", anomaly_class(self.rule, self.dimension))
        else:
            _choice(self.anomaly_class, "class", ANOMALY_CLASSES)

    @property
    def series(self) -> SeriesRef:
        """The series this alert is about."""
        return SeriesRef(self.rule, self.dimension, self.key)

    @property
    def kafka_key(self) -> str:
        """The alerts topic's record key, ``rule:dimension:key``."""
        return self.series.kafka_key

    @property
    def is_instant(self) -> bool:
        """True for a per-event alert (zero-length window): it never resolves."""
        return self.window_start == self.window_end == self.started_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with exactly the contract's fields (``class`` only when known)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = format_time(value)
            elif f.name == "context":
                value = _canonical_json(value, "context")
            elif f.name == "anomaly_class":
                if value is not None:
                    out["class"] = value
                continue
            out[f.name] = value
        return out

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON with sorted keys: byte-identical for equal events."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEvent:
        """Validate and build from a decoded JSON object; unknown keys are ignored."""
        if not isinstance(data, Mapping):
            raise AlertValidationError("<root>", "must be a JSON object")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "context":
                kwargs["context"] = data.get("context") or {}
                continue
            if f.name == "anomaly_class":
                kwargs["anomaly_class"] = data.get("class")
                continue
            if f.name not in data:
                raise AlertValidationError(f.name, "is required")
            value = data[f.name]
            if f.name in ("window_start", "window_end", "started_at"):
                value = parse_time(value, f.name)
            kwargs[f.name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, raw: bytes | str) -> AlertEvent:
        """Decode and validate one JSON alert event."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise AlertValidationError("<root>", f"not valid JSON: {exc}") from exc
        return cls.from_dict(data)
