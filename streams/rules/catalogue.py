"""The rule catalogue and its TOML configuration.

Size: the rules file's schema: every key's type, range and error message, so that a bad
file is refused with the field named.

Rule names, what each one measures and its metric kind are fixed by the
contract (section 4) and declared one module per rule (:mod:`streams.rules.builtin`,
listed by :mod:`streams.rules.registry`); the file sets windows, dimensions, engine
parameters and runbooks. :func:`load_rules` refuses a bad file with a :class:`ConfigError`
whose ``field`` is the TOML path, e.g. ``rules.return_rate.detector.persistence``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Final

from alerts.exceptions import TemplateError
from alerts.text import validate_template
from streams.contract.events import TopicName
from streams.exceptions import ConfigError
from streams.rules.mutes import MuteTable, parse_mutes
from streams.rules.registry import DEFAULT_REGISTRY, Registry
from streams.rules.spec import DEFAULT_IDLE_TTL_MS, DEFAULT_MAX_SERIES, Rule, RuleKind, RuleSpec
from thresholds.config import DetectorConfig, MetricKind
from thresholds.seasonal import HOUR_MS

__all__ = [
    "CATALOGUE",
    "DEFAULT_IDLE_TTL_MS",
    "DEFAULT_MAX_SERIES",
    "DIMENSION_FIELDS",
    "RuleKind",
    "RuleSet",
    "RuleSpec",
    "load_rules",
    "parse_rules",
    "read_rules_document",
]

#: Defaults of ``[settings] order_state_max`` and ``order_state_ttl`` (per input partition).
DEFAULT_ORDER_STATE_MAX: Final = 500_000
DEFAULT_ORDER_STATE_TTL_MS: Final = 21 * 86_400_000
#: Default of ``[settings] risk_max_keys`` (per partials partition).
DEFAULT_RISK_MAX_KEYS: Final = 500_000
_MAX_SERIES_LIMIT: Final = 10_000_000

#: The contract's rules (section 4 and 7.3), one module each under
#: :mod:`streams.rules.builtin`: what each measures, the topics it reads, the dimensions
#: it allows, what each event adds and its traits (see :mod:`streams.rules.spec`).
CATALOGUE: Final = DEFAULT_REGISTRY

#: Event attribute behind each dimension name (``total`` has the constant key ``all``).
DIMENSION_FIELDS: Final[dict[str, str]] = {
    "sku": "sku",
    "category": "category",
    "region": "region",
    "carrier": "carrier",
    "channel": "channel",
    "reason": "reason",
    "queue": "queue",
    "customer": "customer_id",
    "address": "address_id",
    "order": "order_id",
}

#: ``status`` tells exchanges from returns (``exchange_requested``/``return_requested``).
_CONTEXT_FIELDS: Final[frozenset[str]] = frozenset(
    {"sku", "category", "region", "carrier", "channel", "reason", "queue", "status"}
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS: Final[dict[str, int]] = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
#: Bound of the shop's offset from UTC (real time zones lie within -12h..+14h).
_MAX_OFFSET_MS: Final = 14 * 3_600_000
_RULE_KEYS: Final[frozenset[str]] = frozenset(
    {
        "enabled",
        "window",
        "hop",
        "dimensions",
        "context",
        "runbook",
        "detector",
        "quantile",
        "sla",
        "idle_ttl",
        "max_series",
        "relative_to",
        "total_direction",
        "total_cusum_h",
        "slow_guard_above",
        "slow_half_life",
        "sku_window",
        "lost_after",
        "lost_warmup",
        "lost_alone_after",
        "rollup_min",
        "cohort",
        "settle",
        "statistic",
        "strata",
        "set_apart",
        "set_apart_in",
    }
)
_NORM_KEYS: Final[frozenset[str]] = frozenset(
    {
        "sensitivity",
        "direction",
        "grace_period",
        "half_life",
        "clip_sigma",
        "min_scale",
        "guard_above",
        "guard_below",
        "severity_steps",
    }
)
#: Value shapes of the detector and norm tables, checked before the engine sees them.
_INT_KEYS: Final = frozenset({"grace_period", "shift_after", "resolve_after", "min_sample_size"})
_PAIR_KEYS: Final[dict[str, str]] = {"persistence": "integers", "severity_steps": "finite numbers"}
_TEXT_KEYS: Final = frozenset({"direction", "policy", "cusum_direction"})
#: Largest value of an integer detector setting (windows or events): a year of
#: one-minute windows is about half of it.
_MAX_INT_SETTING: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All enabled rules plus the global settings."""

    rules: tuple[RuleSpec, ...]
    lateness_ms: int
    utc_offset_ms: int
    #: ``[[mutes]]`` of the rules file (see :mod:`streams.rules.mutes`).
    mutes: MuteTable = dataclasses.field(default_factory=MuteTable)
    #: Per input partition of orders: most orders whose lifecycle times are kept, and how
    #: long (event time) an order with no new event is kept (streams.pipeline.order_state).
    order_state_max: int = DEFAULT_ORDER_STATE_MAX
    order_state_ttl_ms: int = DEFAULT_ORDER_STATE_TTL_MS
    #: Per partials partition: most customers, addresses, SKUs and open orders (each)
    #: the risk score keeps (streams.risk.scorer).
    risk_max_keys: int = DEFAULT_RISK_MAX_KEYS

    def by_name(self, name: str) -> RuleSpec:
        """The rule called ``name``."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def for_topic(self, topic: TopicName) -> tuple[RuleSpec, ...]:
        """Rules that read ``topic``."""
        return tuple(rule for rule in self.rules if topic in rule.topics)


def load_rules(path: str | Path | None = None, registry: Registry = DEFAULT_REGISTRY) -> RuleSet:
    """Load and validate a rules file; ``None`` or ``""`` loads the shipped default."""
    return parse_rules(read_rules_document(path), registry)


def read_rules_document(path: str | Path | None = None) -> dict[str, Any]:
    """A rules file's TOML document, not yet validated (``None`` or ``""``: the shipped
    default); an unreadable, non-UTF-8 or malformed file is a :class:`ConfigError`."""
    if path:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(source, f"cannot read rules file: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                source, f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
            ) from None
    else:
        source = "default_rules.toml"
        text = resources.files("streams").joinpath("default_rules.toml").read_text("utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(source, "not valid TOML: nested too deeply") from None


def parse_rules(document: dict[str, Any], registry: Registry = DEFAULT_REGISTRY) -> RuleSet:
    """Validate a parsed rules document (see :func:`load_rules`) against the rules of
    ``registry``."""
    _only_keys(document, {"settings", "rules", "mutes"}, "")
    settings = _table(document.get("settings", {}), "settings")
    _only_keys(
        settings,
        {
            "lateness",
            "utc_offset",
            "idle_ttl",
            "max_series",
            "order_state_max",
            "order_state_ttl",
            "risk_max_keys",
        },
        "settings",
    )
    lateness_ms = _duration(settings.get("lateness", "2m"), "settings.lateness", allow_zero=True)
    utc_offset_ms = _offset(settings.get("utc_offset", "0h"), "settings.utc_offset")
    retention = (
        _duration(settings.get("idle_ttl", DEFAULT_IDLE_TTL_MS), "settings.idle_ttl"),
        _count(settings.get("max_series", DEFAULT_MAX_SERIES), "settings.max_series"),
    )
    if "rules" not in document:
        raise ConfigError(
            "rules",
            "missing: a rules file replaces the shipped rules and runs only the rules it "
            "lists as [rules.<name>] tables; start from a copy of streams/default_rules.toml",
        )
    rules_table = _table(document["rules"], "rules")
    for name in rules_table:
        if name not in registry:
            raise ConfigError(
                f"rules.{name}", f"unknown rule; the catalogue is {', '.join(sorted(registry))}"
            )
    rules = []
    for name, entry in registry.items():
        if name not in rules_table:
            continue
        spec = _rule(
            entry, _table(rules_table[name], f"rules.{name}"), utc_offset_ms, retention, registry
        )
        if spec is not None:
            rules.append(spec)
    mutes = parse_mutes(document.get("mutes", []), registry, utc_offset_ms)
    order_state_max = _count(
        settings.get("order_state_max", DEFAULT_ORDER_STATE_MAX), "settings.order_state_max"
    )
    order_state_ttl_ms = _duration(
        settings.get("order_state_ttl", DEFAULT_ORDER_STATE_TTL_MS), "settings.order_state_ttl"
    )
    risk_max_keys = _count(
        settings.get("risk_max_keys", DEFAULT_RISK_MAX_KEYS), "settings.risk_max_keys"
    )
    return RuleSet(
        tuple(rules),
        lateness_ms,
        utc_offset_ms,
        mutes,
        order_state_max,
        order_state_ttl_ms,
        risk_max_keys,
    )


def _rule(
    entry: Rule,
    table: dict[str, Any],
    utc_offset_ms: int,
    retention: tuple[int, int],
    registry: Registry,
) -> RuleSpec | None:
    name = entry.name
    where = f"rules.{name}"
    _only_keys(table, _RULE_KEYS, where)
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled", "expected true or false")
    if not enabled:
        return None
    window_ms = _duration(table.get("window", "15m"), f"{where}.window")
    hop_ms = _duration(table.get("hop", window_ms), f"{where}.hop")
    if hop_ms > window_ms or window_ms % hop_ms:
        raise ConfigError(f"{where}.hop", "must divide the window and not exceed it")
    if window_ms // hop_ms > 12:
        raise ConfigError(f"{where}.hop", "at most 12 overlapping windows per event")
    dimensions = _dimensions(
        table.get("dimensions", list(entry.required_dimensions)), entry, f"{where}.dimensions"
    )
    context = tuple(_string_list(table.get("context", []), f"{where}.context"))
    for field in context:
        if field not in _CONTEXT_FIELDS:
            raise ConfigError(
                f"{where}.context", f"unknown field {field!r}; use {sorted(_CONTEXT_FIELDS)}"
            )
    context = tuple(f for f in entry.forced_context if f not in context) + context
    runbook = table.get("runbook")
    if runbook is None:
        runbook = ""  # the locale's runbook (alerts.locales)
    elif not isinstance(runbook, str) or not runbook.strip():
        raise ConfigError(f"{where}.runbook", "expected a non-empty string")
    else:
        _check_template(runbook, f"{where}.runbook")
    detector = None
    norm: tuple[tuple[str, Any], ...] = ()
    if entry.kind == "event":
        norm = _norm(table.get("detector", {}), f"{where}.detector")
    else:
        detector = _detector(
            entry.kind,
            table.get("detector", {}),
            f"{where}.detector",
            utc_offset_ms,
            overlap=window_ms / hop_ms,
            slot_lag_ms=slot_lag_ms(window_ms, hop_ms),
        )
    quantile = _number(table.get("quantile", 0.9), f"{where}.quantile", 0.5, 0.999)
    sla_seconds = _duration(table.get("sla", "15m"), f"{where}.sla") / 1000
    idle_ttl_ms = (
        _duration(table["idle_ttl"], f"{where}.idle_ttl") if "idle_ttl" in table else retention[0]
    )
    max_series = (
        _count(table["max_series"], f"{where}.max_series")
        if "max_series" in table
        else retention[1]
    )
    relative_to = table.get("relative_to")
    if relative_to is not None:
        if not entry.colocated:
            raise ConfigError(
                f"{where}.relative_to",
                f"only {', '.join(sorted(registry.with_trait('colocated')))} "
                "can be judged relative to their total or peers",
            )
        if relative_to not in ("total", "peers"):
            raise ConfigError(
                f"{where}.relative_to", f"expected 'total' or 'peers', got {relative_to!r}"
            )
        if relative_to == "total" and entry.kind != "count":
            raise ConfigError(f"{where}.relative_to", "'total' is for count rules")
        if relative_to == "peers" and entry.kind not in ("ratio", "percentile"):
            raise ConfigError(f"{where}.relative_to", "'peers' is for ratio and percentile rules")
        if relative_to == "total" and ("total",) not in dimensions:
            raise ConfigError(f"{where}.relative_to", "needs the 'total' dimension")
    total_direction = table.get("total_direction")
    if total_direction is not None:
        if total_direction not in ("up", "down", "both"):
            raise ConfigError(
                f"{where}.total_direction", f"expected up, down or both, got {total_direction!r}"
            )
        if ("total",) not in dimensions:
            raise ConfigError(f"{where}.total_direction", "needs the 'total' dimension")
    total_cusum_h = None
    if "total_cusum_h" in table:
        if ("total",) not in dimensions:
            raise ConfigError(f"{where}.total_cusum_h", "needs the 'total' dimension")
        if detector is None or detector.policy != "cusum":
            raise ConfigError(f"{where}.total_cusum_h", "needs the detector's policy 'cusum'")
        total_cusum_h = _number(table["total_cusum_h"], f"{where}.total_cusum_h", 0.1, 1e3)
    burst_keys = [key for key in ("slow_guard_above", "slow_half_life") if key in table]
    if burst_keys and entry.entity != "burst":
        bursts = ", ".join(n for n, r in registry.items() if r.entity == "burst")
        raise ConfigError(f"{where}.{burst_keys[0]}", f"only {bursts} has it")
    slow_floor = _number(table.get("slow_guard_above", 5.0), f"{where}.slow_guard_above", 1.0, 1e6)
    slow_half_life_ms = _duration(table.get("slow_half_life", "1h"), f"{where}.slow_half_life")
    sku_window_ms = _duration(table.get("sku_window", "15m"), f"{where}.sku_window")
    if "sku_window" in table and entry.kind != "event":
        raise ConfigError(f"{where}.sku_window", "only per-event rules roll verdicts up per sku")
    lost_factor = 1.9
    if "lost_after" in table:
        if name != "lost_parcel":
            raise ConfigError(f"{where}.lost_after", "only lost_parcel has it")
        lost_factor = _number(table["lost_after"], f"{where}.lost_after", 1.0, 20.0)
    lost_alone = 1.5
    if "lost_alone_after" in table:
        if name != "lost_parcel":
            raise ConfigError(f"{where}.lost_alone_after", "only lost_parcel has it")
        lost_alone = _number(table["lost_alone_after"], f"{where}.lost_alone_after", 1.0, 10.0)
    lost_warmup_ms = 10 * 86_400_000
    if "lost_warmup" in table:
        if name != "lost_parcel":
            raise ConfigError(f"{where}.lost_warmup", "only lost_parcel has it")
        lost_warmup_ms = _duration(table["lost_warmup"], f"{where}.lost_warmup", allow_zero=True)
    rollup_min = 1
    if "rollup_min" in table:
        if entry.kind != "event":
            raise ConfigError(f"{where}.rollup_min", "only per-event rules roll verdicts up")
        rollup_min = _count(table["rollup_min"], f"{where}.rollup_min")
    cohort_ms = None
    if "cohort" in table:
        if not entry.cohort:
            raise ConfigError(
                f"{where}.cohort",
                f"only {', '.join(sorted(registry.with_trait('cohort')))} "
                "attributes events to order cohorts",
            )
        cohort_ms = _duration(table["cohort"], f"{where}.cohort")
        if cohort_ms < hop_ms:
            raise ConfigError(f"{where}.cohort", "must be at least the rule's hop")
    # A lag-aware rate's delay to a return is known only `cohort` after the first delivery.
    settle_ms = cohort_ms or 0
    if "settle" in table:
        if entry.kind == "event" or entry.entity:
            raise ConfigError(f"{where}.settle", "only windowed rules of series settle")
        settle_ms = _duration(table["settle"], f"{where}.settle", allow_zero=True)
    statistic = table.get("statistic", "quantile")
    if "statistic" in table and entry.kind != "percentile":
        raise ConfigError(f"{where}.statistic", "only percentile rules choose a statistic")
    if statistic not in ("quantile", "log_mean"):
        raise ConfigError(
            f"{where}.statistic", f"expected 'quantile' or 'log_mean', got {statistic!r}"
        )
    strata = None
    if "strata" in table:
        if statistic != "log_mean":
            raise ConfigError(f"{where}.strata", "only rules with statistic 'log_mean' have strata")
        strata = table["strata"]
        if not isinstance(strata, str) or strata not in entry.dimensions or strata == "total":
            raise ConfigError(
                f"{where}.strata",
                f"expected one of {', '.join(sorted(entry.dimensions - {'total'}))}, "
                f"got {strata!r}",
            )
    set_apart, set_apart_in = _set_apart(table, entry, dimensions, where)
    return RuleSpec(
        name,
        entry.kind,
        entry.topics,
        window_ms,
        hop_ms,
        dimensions,
        context,
        runbook,
        detector,
        quantile,
        sla_seconds,
        norm,
        idle_ttl_ms,
        max_series,
        relative_to,
        total_direction,
        slow_floor,
        sku_window_ms,
        lost_factor,
        lost_warmup_ms,
        rollup_min,
        cohort_ms,
        statistic,
        slow_half_life_ms,
        settle_ms,
        lost_alone,
        None if strata is None else DIMENSION_FIELDS[strata],
        set_apart,
        set_apart_in,
        total_cusum_h=total_cusum_h,
        definition=entry,
    )


def _set_apart(
    table: dict[str, Any], entry: Rule, dimensions: tuple[tuple[str, ...], ...], where: str
) -> tuple[str | None, tuple[str, ...]]:
    """``set_apart`` (a compound dimension of the rule) and ``set_apart_in`` (the rule's
    dimensions that set its cells apart; default: all but the cells, their parts and
    ``total``)."""
    if "set_apart_in" in table and "set_apart" not in table:
        raise ConfigError(f"{where}.set_apart_in", "needs set_apart")
    if "set_apart" not in table:
        return None, ()
    raw = table["set_apart"]
    compound = [parts for parts in dimensions if len(parts) > 1]
    names = [",".join(parts) for parts in compound]
    if entry.kind != "ratio":
        raise ConfigError(f"{where}.set_apart", "only ratio rules set cells apart")
    if not isinstance(raw, str) or raw.replace(" ", "") not in names:
        raise ConfigError(
            f"{where}.set_apart",
            f"expected a compound dimension of the rule ({', '.join(names) or 'none'}), "
            f"got {raw!r} (add it to dimensions, or remove set_apart)",
        )
    cell = raw.replace(" ", "")
    parts = set(cell.split(","))
    eligible = [
        ",".join(p)
        for p in dimensions
        if ",".join(p) != cell and not (len(p) == 1 and p[0] in parts) and p != ("total",)
    ]
    if "set_apart_in" not in table:
        return cell, tuple(eligible)
    chosen = _string_list(table["set_apart_in"], f"{where}.set_apart_in")
    for name in chosen:
        if name not in eligible:
            raise ConfigError(
                f"{where}.set_apart_in",
                f"expected dimensions of the rule other than {cell}, its parts and total "
                f"({', '.join(eligible) or 'none'}), got {name!r}",
            )
    if not chosen:
        raise ConfigError(f"{where}.set_apart_in", "expected at least one dimension")
    return cell, tuple(dict.fromkeys(chosen))


def _norm(raw: Any, where: str) -> tuple[tuple[str, Any], ...]:
    from thresholds.event_norm import EventNorm

    table = _table(raw, where)
    _only_keys(table, _NORM_KEYS, where)
    values = _typed(table, where)
    if "severity_steps" in values:
        warning, critical = values["severity_steps"]
        if not 1 <= warning <= critical:
            raise ConfigError(
                f"{where}.severity_steps",
                "expected [warning, critical] with 1 <= warning <= critical",
            )
    try:
        EventNorm(**values)
    except (ValueError, TypeError) as exc:
        field = str(exc).split(" ", 1)[0]
        raise ConfigError(f"{where}.{field}" if field in _NORM_KEYS else where, str(exc)) from None
    return tuple(sorted(values.items()))


def slot_lag_ms(window_ms: int, hop_ms: int) -> int:
    """How far before its end a window's hour slot is read: half the window (its middle),
    for windows less than an hour apart. Windows an hour or more apart fill one slot each
    per day, so a lag would only rename the slots (and misread the profiles an earlier
    version saved); they keep the end."""
    return window_ms // 2 if hop_ms < HOUR_MS else 0


def _detector(
    kind: RuleKind,
    raw: Any,
    where: str,
    utc_offset_ms: int,
    *,
    overlap: float = 1.0,
    slot_lag_ms: int = 0,
) -> DetectorConfig:
    table = _table(raw, where)
    allowed = {f.name for f in fields(DetectorConfig)} - {
        "kind",
        "utc_offset_ms",
        "overlap",
        "slot_lag_ms",
    }
    _only_keys(table, allowed, where)
    values = _typed(table, where)
    # An "event" rule's detector is a count detector (mypy does not narrow by `==`).
    metric_kind: MetricKind = "count" if kind == "count" else kind  # type: ignore[assignment]
    try:
        return DetectorConfig(
            kind=metric_kind,
            utc_offset_ms=utc_offset_ms,
            overlap=overlap,
            slot_lag_ms=slot_lag_ms,
            **values,
        )
    except (ValueError, TypeError) as exc:
        message = str(exc)
        field = message.split(" ", 1)[0]
        path = f"{where}.{field}" if field in allowed else where
        raise ConfigError(path, message) from None


def _dimensions(raw: Any, entry: Rule, where: str) -> tuple[tuple[str, ...], ...]:
    names = _string_list(raw, where)
    if not names:
        raise ConfigError(where, "expected at least one dimension")
    result = []
    for name in names:
        parts = tuple(part.strip() for part in name.split(","))
        for part in parts:
            if part not in entry.dimensions:
                raise ConfigError(
                    where,
                    f"unknown dimension {part!r} for this rule; "
                    f"allowed: {', '.join(sorted(entry.dimensions))}",
                )
        if "total" in parts and len(parts) > 1:
            raise ConfigError(where, "'total' cannot be combined with other dimensions")
        if parts in result:
            raise ConfigError(where, f"dimension {name!r} listed twice")
        result.append(parts)
    return tuple(result)


def _check_template(template: str, where: str) -> None:
    """Only plain placeholders: a format spec such as ``{observed:>999999999}`` is refused."""
    try:
        validate_template(template)
    except TemplateError as exc:
        raise ConfigError(where, str(exc)) from None


def _typed(table: dict[str, Any], where: str) -> dict[str, Any]:
    """Detector or norm values with their shapes checked; pairs become tuples."""
    values: dict[str, Any] = {}
    for name, value in table.items():
        path = f"{where}.{name}"
        if name in _PAIR_KEYS:
            kind = _PAIR_KEYS[name]
            ok = (
                isinstance(value, list)
                and len(value) == 2
                and all(
                    _is_int(v) if kind == "integers" else _is_number(v) and math.isfinite(v)
                    for v in value
                )
            )
            if not ok:
                raise ConfigError(path, f"expected a list of two {kind}, got {value!r}")
            values[name] = tuple(value)
        elif name in _TEXT_KEYS:
            if not isinstance(value, str):
                raise ConfigError(path, f"expected a string, got {value!r}")
            values[name] = value
        elif name == "sensitivity":
            if not (isinstance(value, str) or _is_number(value)):
                raise ConfigError(
                    path,
                    f"expected low, medium, high or a number of standard deviations, got {value!r}",
                )
            values[name] = value
        elif name in _INT_KEYS:
            if not _is_int(value) or value > _MAX_INT_SETTING:
                raise ConfigError(
                    path, f"expected an integer up to {_MAX_INT_SETTING}, got {value!r}"
                )
            values[name] = value
        else:
            if not _is_number(value) or not math.isfinite(value):
                raise ConfigError(path, f"expected a finite number, got {value!r}")
            values[name] = value
    return values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(where or "<root>", "expected a table")
    return raw


def _only_keys(table: dict[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise ConfigError(path, f"unknown setting; allowed: {', '.join(sorted(allowed))}")


def _string_list(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ConfigError(where, "expected a list of strings")
    return list(raw)


def _number(raw: Any, where: str, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise ConfigError(where, f"expected a number in {low}..{high}")
    return float(raw)


def _count(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= _MAX_SERIES_LIMIT:
        raise ConfigError(where, f"expected a whole number in 1..{_MAX_SERIES_LIMIT}")
    return raw


def _duration(raw: Any, where: str, *, allow_zero: bool = False) -> int:
    if isinstance(raw, bool):
        raise ConfigError(where, "expected a duration like '15m' or milliseconds")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and (match := _DURATION.match(raw)):
        scaled = float(match.group(1)) * _UNIT_MS[match.group(2)]
        if not scaled <= 30 * 86_400_000:
            raise ConfigError(where, "expected a duration between 1 ms and 30 days")
        value = round(scaled)
    else:
        raise ConfigError(where, f"expected a duration like '15m' or milliseconds, got {raw!r}")
    if value < 0 or (value == 0 and not allow_zero) or value > 30 * 86_400_000:
        raise ConfigError(where, "expected a duration between 1 ms and 30 days")
    return value


def _offset(raw: Any, where: str) -> int:
    """A UTC offset like ``"+5.5h"`` or ``"-8h"`` (or milliseconds), within -14h..+14h."""
    sign = 1
    if isinstance(raw, str) and raw.strip()[:1] in ("-", "+"):
        sign = -1 if raw.strip()[0] == "-" else 1
        raw = raw.strip()[1:]
    elif _is_int(raw) and raw < 0:
        sign, raw = -1, -raw
    value = sign * _duration(raw, where, allow_zero=True)
    if abs(value) > _MAX_OFFSET_MS:
        raise ConfigError(
            where, f"expected an offset within -14h..+14h, got {value / 3_600_000:g}h"
        )
    return value
