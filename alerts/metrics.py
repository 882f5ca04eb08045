"""Every Prometheus metric of the service, in one container on an injected registry.

Size: every metric of the service is declared in one container on an injected registry
(the point of the module: one place to read what is exported, and one registry per
test); the per-series collector and its cap come with it.

:meth:`AlertMetrics.create` registers all metrics on the registry it is given
(tests pass a fresh ``CollectorRegistry()``, the worker the default one), the
way faust's ``FaustMetrics.create`` does. Other layers record through its
methods, so label values stay within their closed sets.

Per-series gauges (``aftersales_metric_observed|baseline|lower|upper|score``)
are not live ``Gauge`` children: the stream layer keeps a :class:`SeriesView`
(series -> latest Decision) up to date at each window close, and
:class:`SeriesCollector` renders it at scrape time. Exported series are capped
per rule: every alerting series, then the most anomalous by ``|score|`` (ties by
dimension and key) up to ``series_cap``. Why 1,000: 8 rules x 1,000 series x 5
gauges is 40k series per worker, comfortable for one Prometheus; a shop with
200k SKUs would otherwise export 1M+ series from ``return_rate`` alone, most of
them dull. ``None`` values (warm-up, one-sided bands) are simply not exported.

``aftersales_alert_info`` (one series per open episode, labels carry the summary)
is capped per rule the same way: when a rule has more open episodes than
``series_cap``, the highest severity is shown first (then the oldest episode, then
the alert id) and ``aftersales_alert_info_dropped{rule}`` says how many are hidden;
``aftersales_alerts_active`` still counts them all.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, Protocol, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts.exceptions import MetricLabelError
from alerts.model import RULE_NAMES, AlertEvent, SeriesRef
from alerts.personal import LabelMask
from thresholds.decision import Decision

__all__ = [
    "DEFAULT_SERIES_CAP",
    "EVENT_TO_ALERT_BUCKETS",
    "AlertMetrics",
    "CommitFailureKind",
    "EventOutcome",
    "LabelCounts",
    "LatencyKind",
    "SeriesCollector",
    "SeriesView",
    "render_latest",
    "select_exported",
]

DEFAULT_SERIES_CAP: Final = 1_000
RISK_SCORE_BUCKETS: Final = (0.05, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0)
RISK_STAGES: Final = ("placed", "shipped", "delivered")
EVENT_TO_ALERT_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
EventOutcome = Literal["ok", "invalid", "late", "duplicate"]
LatencyKind = Literal["event", "window"]
#: Position of the ``group`` label among ``aftersales_alert_info``'s labels (``class``
#: follows it).
_GROUP_LABEL = 8
#: Delays longer than this are alerts on history, not latency (see
#: :meth:`AlertMetrics.observe_published`).
LATENCY_HORIZON_S = 3_600.0
_SEVERITIES: Final = ("info", "warning", "critical")
_SERIES_LABELS: Final = ("rule", "dimension", "key")
_GAUGES: Final = ("observed", "baseline", "lower", "upper", "score")
_DONE_MEMORY: Final = 10_000
#: Order of severities: a firing of an open episode with a higher one is an escalation.
_RANK: Final = {"info": 1, "warning": 2, "critical": 3}
_SEVERITY_RANK: Final = {"critical": 0, "warning": 1, "info": 2}
EvictionReason = Literal["ttl", "cap"]

_Key_co = TypeVar("_Key_co", covariant=True)


class LabelCounts(Protocol[_Key_co]):
    """Counts by label values (a ``Counter`` or a ``dict``), only read: unlike
    ``Mapping``, covariant in the key, so counts keyed by ``(TopicName, Outcome)``
    literals are ``LabelCounts[tuple[str, str]]``."""

    def items(self) -> Iterable[tuple[_Key_co, int]]:
        """``(labels, count)`` pairs."""


SnapshotStage = Literal["intake", "closer"]
#: A failed offset commit: ``superseded`` (a rebalance overtook it) or ``error``.
CommitFailureKind = Literal["superseded", "error"]


class SeriesView:
    """Latest Decision per series, shared by the stream layer and the scraper.

    Thread-safe: the scrape may run in the HTTP server's thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[SeriesRef, Decision] = {}

    def update(self, series: SeriesRef, decision: Decision) -> None:
        """Record ``decision`` as the series' latest."""
        with self._lock:
            self._latest[series] = decision

    def replace(self, latest: Mapping[SeriesRef, Decision]) -> None:
        """Make ``latest`` the whole view (series not in it are dropped)."""
        with self._lock:
            self._latest = dict(latest)

    def remove(self, series: SeriesRef) -> None:
        """Stop tracking ``series`` (e.g. it expired)."""
        with self._lock:
            self._latest.pop(series, None)

    def snapshot(self) -> dict[SeriesRef, Decision]:
        """A consistent copy of the view."""
        with self._lock:
            return dict(self._latest)

    def __len__(self) -> int:
        with self._lock:
            return len(self._latest)


def select_exported(
    rows: Iterable[tuple[SeriesRef, Decision]], cap: int
) -> list[tuple[SeriesRef, Decision]]:
    """One rule's exported rows: all alerting, then most anomalous up to ``cap``."""
    alerting: list[tuple[SeriesRef, Decision]] = []
    others: list[tuple[SeriesRef, Decision]] = []
    for row in rows:
        (alerting if row[1].alerting else others).append(row)

    def order(row: tuple[SeriesRef, Decision]) -> tuple[float, str, str]:
        return (-abs(row[1].score), row[0].dimension, row[0].key)

    alerting.sort(key=order)
    others.sort(key=order)
    return alerting + others[: max(0, cap - len(alerting))]


class SeriesCollector(Collector):
    """Renders a :class:`SeriesView` as capped per-series gauges at scrape time."""

    def __init__(
        self, view: SeriesView, series_cap: int = DEFAULT_SERIES_CAP, mask: LabelMask | None = None
    ) -> None:
        if series_cap < 0:
            raise ValueError(f"series_cap must be >= 0, got {series_cap}")
        self.view = view
        self.series_cap = series_cap
        self.mask = mask or LabelMask("keep")

    def _families(self) -> dict[str, GaugeMetricFamily]:
        families = {
            name: GaugeMetricFamily(
                f"aftersales_metric_{name}",
                f"Latest window's {name} value per series (capped per rule)",
                labels=_SERIES_LABELS,
            )
            for name in _GAUGES
        }
        families["tracked"] = GaugeMetricFamily(
            "aftersales_metric_series", "Series tracked per rule", labels=("rule",)
        )
        families["exported"] = GaugeMetricFamily(
            "aftersales_metric_series_exported",
            "Series exported per rule after the cap",
            labels=("rule",),
        )
        return families

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Metric names without samples (registration must not scrape)."""
        yield from self._families().values()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Build every per-series gauge from the current view."""
        families = self._families()
        by_rule: dict[str, list[tuple[SeriesRef, Decision]]] = {}
        for series, decision in self.view.snapshot().items():
            by_rule.setdefault(series.rule, []).append((series, decision))
        for rule in sorted(by_rule):
            rows = by_rule[rule]
            exported = select_exported(rows, self.series_cap)
            families["tracked"].add_metric([rule], len(rows))
            families["exported"].add_metric([rule], len(exported))
            for series, decision in exported:
                key = self.mask.key(series)
                if key is None:
                    continue
                labels = [series.rule, series.dimension, key]
                for name in _GAUGES:
                    value = getattr(decision, name)
                    if value is not None and not math.isnan(value):
                        families[name].add_metric(labels, float(value))
        yield from families.values()


def _check(value: str, allowed: tuple[str, ...], label: str) -> str:
    if value not in allowed:
        raise MetricLabelError(f"{label} must be one of {allowed}, got {value!r}")
    return value


@dataclass(slots=True)
class AlertMetrics:
    """All the service's metrics; build with :meth:`create`."""

    registry: CollectorRegistry
    events_total: Counter
    dead_letter_total: Counter
    alerts_total: Counter
    alerts_active: Gauge
    alert_info: Gauge
    event_to_alert_seconds: Histogram
    consumer_lag: Gauge
    watermark_seconds: Gauge
    window_close_lag_seconds: Gauge
    broker_connected: Gauge
    series: SeriesView
    series_collector: SeriesCollector
    series_evicted_total: Counter
    series_folded_total: Counter
    alert_info_dropped: Gauge
    snapshot_bytes: Gauge
    snapshot_seconds: Gauge
    snapshot_too_large_total: Counter
    commit_failures_total: Counter
    mute_active: Gauge
    mute_suppressed_total: Counter
    twin_deferred_total: Counter
    cells_set_apart_total: Counter
    feedback_verdicts_total: Counter
    feedback_multiplier: Gauge
    risk_scored_total: Counter
    risk_score: Histogram
    risk_top_factor_total: Counter
    info_cap: int = DEFAULT_SERIES_CAP
    mask: LabelMask = field(default_factory=lambda: LabelMask("keep"))
    _open: dict[str, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)
    #: Open episodes by rule: alert_id -> (severity rank, started_at, alert_id) order key.
    _open_order: dict[str, dict[str, tuple[int, datetime, str]]] = field(default_factory=dict)
    #: Alert ids currently on the ``alert_info`` gauge.
    _shown: set[str] = field(default_factory=set)
    #: The series of each open episode (its labels may carry a masked key).
    _open_series: dict[str, SeriesRef] = field(default_factory=dict)
    _done: OrderedDict[str, None] = field(default_factory=OrderedDict)
    #: Alert id of a folded child -> its incident's id (the ``group`` label).
    _groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        registry: CollectorRegistry,
        *,
        series_cap: int = DEFAULT_SERIES_CAP,
        topics: Iterable[str] = (),
        rules: Iterable[str] = RULE_NAMES,
        mask: LabelMask | None = None,
    ) -> AlertMetrics:
        """Register every metric on ``registry``.

        ``topics`` and ``rules`` pre-create zero-valued children so ``rate()``
        and dashboards see the series before the first increment. ``mask``
        rewrites customer and address keys in labels (default: kept as they are).
        """
        mask = mask or LabelMask("keep")
        events_total = Counter(
            "aftersales_events_total",
            "Input events by topic and outcome (ok, invalid, late, duplicate)",
            ("topic", "outcome"),
            registry=registry,
        )
        alerts_total = Counter(
            "aftersales_alerts_total",
            "Alert events emitted, by rule, severity and status",
            ("rule", "severity", "status"),
            registry=registry,
        )
        alerts_active = Gauge(
            "aftersales_alerts_active",
            "Open alert episodes by rule and severity",
            ("rule", "severity"),
            registry=registry,
        )
        view = SeriesView()
        collector = SeriesCollector(view, series_cap, mask)
        registry.register(collector)
        metrics = cls(
            registry=registry,
            events_total=events_total,
            dead_letter_total=Counter(
                "aftersales_dead_letter_total",
                "Records sent to the dead-letter topic, by source topic and reason",
                ("topic", "reason"),
                registry=registry,
            ),
            alerts_total=alerts_total,
            alerts_active=alerts_active,
            alert_info=Gauge(
                "aftersales_alert_info",
                "1 per open alert episode; labels carry summary, runbook and the anomaly class",
                (
                    "rule",
                    "dimension",
                    "key",
                    "severity",
                    "direction",
                    "alert_id",
                    "summary",
                    "runbook",
                    "group",
                    "class",
                ),
                registry=registry,
            ),
            event_to_alert_seconds=Histogram(
                "aftersales_event_to_alert_seconds",
                "Wall-clock delay from the triggering event (or window close) to the alert",
                ("kind",),
                buckets=EVENT_TO_ALERT_BUCKETS,
                registry=registry,
            ),
            consumer_lag=Gauge(
                "aftersales_consumer_lag",
                "Records behind the end of each input partition",
                ("topic", "partition"),
                registry=registry,
            ),
            watermark_seconds=Gauge(
                "aftersales_watermark_seconds",
                "Event-time watermark, unix seconds",
                registry=registry,
            ),
            window_close_lag_seconds=Gauge(
                "aftersales_window_close_lag_seconds",
                "Wall-clock delay of the latest window close after its end, per rule",
                ("rule",),
                registry=registry,
            ),
            broker_connected=Gauge(
                "aftersales_broker_connected",
                "1 when connected to Kafka, else 0",
                registry=registry,
            ),
            series=view,
            series_collector=collector,
            mask=mask,
            series_evicted_total=Counter(
                "aftersales_series_evicted_total",
                "Series and per-event norms dropped, by rule and reason (ttl: idle, cap: "
                "over max_series)",
                ("rule", "reason"),
                registry=registry,
            ),
            series_folded_total=Counter(
                "aftersales_series_folded_total",
                "New keys beyond a rule's max_series, folded into its overflow series",
                ("rule",),
                registry=registry,
            ),
            alert_info_dropped=Gauge(
                "aftersales_alert_info_dropped",
                "Open episodes left out of aftersales_alert_info by the cap, per rule",
                ("rule",),
                registry=registry,
            ),
            snapshot_bytes=Gauge(
                "aftersales_snapshot_bytes",
                "Size of the newest state snapshot (before compression), per stage",
                ("stage",),
                registry=registry,
            ),
            snapshot_seconds=Gauge(
                "aftersales_snapshot_seconds",
                "Time the newest snapshot took to encode on the event loop, per stage",
                ("stage",),
                registry=registry,
            ),
            snapshot_too_large_total=Counter(
                "aftersales_snapshot_too_large_total",
                "Snapshots refused for exceeding AFTERSALES_MAX_SNAPSHOT_BYTES, per stage",
                ("stage",),
                registry=registry,
            ),
            commit_failures_total=Counter(
                "aftersales_commit_failures_total",
                "Offset commits that failed, by stage (intake, closer) and kind (superseded: "
                "a rebalance overtook it; error: any other failure)",
                ("stage", "kind"),
                registry=registry,
            ),
            mute_active=Gauge(
                "aftersales_mute_active",
                "1 while a mute timing covers the rule at the watermark (event time), else 0",
                ("mute", "rule"),
                registry=registry,
            ),
            mute_suppressed_total=Counter(
                "aftersales_mute_suppressed_total",
                "Decisions a mute or a silencing calendar event kept from alerting (out of "
                "band, fire or resolve), by mute and rule",
                ("mute", "rule"),
                registry=registry,
            ),
            twin_deferred_total=Counter(
                "aftersales_twin_deferred_total",
                "Episodes a series did not open because its window's events all lay in one "
                "compound cell under it (carrier PostNL, all in region,carrier "
                "EU-West,PostNL), whose own series judges them, by rule",
                ("rule",),
                registry=registry,
            ),
            cells_set_apart_total=Counter(
                "aftersales_cells_set_apart_total",
                "Windows a series judged without the one compound cell whose rate stood out "
                "of the rest of it (set_apart: a damaged region,carrier cell in a "
                "category), whose own series judges it, by rule",
                ("rule",),
                registry=registry,
            ),
            feedback_verdicts_total=Counter(
                "aftersales_feedback_verdicts_total",
                "On-call verdicts applied, by rule and verdict (false, true)",
                ("rule", "verdict"),
                registry=registry,
            ),
            feedback_multiplier=Gauge(
                "aftersales_feedback_sensitivity_multiplier",
                "Band multiplier from on-call feedback, per adjusted series (1 = as configured)",
                _SERIES_LABELS,
                registry=registry,
            ),
            risk_scored_total=Counter(
                "aftersales_order_risk_scored_total",
                "Orders scored for after-sales risk, by stage (placed, shipped, delivered) "
                "and level (low, medium, high)",
                ("stage", "level"),
                registry=registry,
            ),
            risk_score=Histogram(
                "aftersales_order_risk_score",
                "Distribution of the per-order risk score (0..1), by stage",
                ("stage",),
                buckets=RISK_SCORE_BUCKETS,
                registry=registry,
            ),
            risk_top_factor_total=Counter(
                "aftersales_order_risk_top_factor_total",
                "Medium and high risk scores by their largest positive factor",
                ("factor",),
                registry=registry,
            ),
            info_cap=series_cap,
        )
        for stage in RISK_STAGES:
            for level in ("low", "medium", "high"):
                metrics.risk_scored_total.labels(stage, level)
        for snapshot_stage in get_args(SnapshotStage):
            for kind in get_args(CommitFailureKind):
                metrics.commit_failures_total.labels(snapshot_stage, kind)
        for topic in topics:
            for outcome in get_args(EventOutcome):
                events_total.labels(topic, outcome)
        for rule in rules:
            metrics.alert_info_dropped.labels(rule)
            for reason in get_args(EvictionReason):
                metrics.series_evicted_total.labels(rule, reason)
            for severity in _SEVERITIES:
                alerts_active.labels(rule, severity)
                for status in ("firing", "resolved"):
                    alerts_total.labels(rule, severity, status)
        return metrics

    def record_risk(self, stage: str, level: str, score: float, top_factor: str | None) -> None:
        """Count one scored order (stage and level are closed sets; the factor is one of
        the scorer's fixed factor names)."""
        self.risk_scored_total.labels(
            _check(stage, RISK_STAGES, "stage"), _check(level, ("low", "medium", "high"), "level")
        ).inc()
        self.risk_score.labels(stage).observe(score)
        if top_factor is not None and level != "low":
            self.risk_top_factor_total.labels(top_factor).inc()

    def record_risks(self, scored: Iterable[tuple[str, str, float, str | None]]) -> None:
        """:meth:`record_risk` for many ``(stage, level, score, top_factor)`` at once: one
        labelled child per label set and one ``inc`` per set (the worker publishes one
        record per scored event; per-record ``labels`` lookups were a cost of their own)."""
        counts: dict[tuple[str, str], int] = {}
        tops: dict[str, int] = {}
        scores: dict[str, list[float]] = {}
        for stage, level, score, top_factor in scored:
            counts[(stage, level)] = counts.get((stage, level), 0) + 1
            scores.setdefault(stage, []).append(score)
            if top_factor is not None and level != "low":
                tops[top_factor] = tops.get(top_factor, 0) + 1
        for (stage, level), n in counts.items():
            self.risk_scored_total.labels(
                _check(stage, RISK_STAGES, "stage"),
                _check(level, ("low", "medium", "high"), "level"),
            ).inc(n)
        for stage, values in scores.items():
            histogram = self.risk_score.labels(stage)
            for score in values:
                histogram.observe(score)
        for top_factor, n in tops.items():
            self.risk_top_factor_total.labels(top_factor).inc(n)

    def record_event(self, topic: str, outcome: EventOutcome) -> None:
        """Count one input event."""
        self.events_total.labels(topic, _check(outcome, get_args(EventOutcome), "outcome")).inc()

    def record_dead_letter(self, topic: str, reason: str) -> None:
        """Count one record sent to the dead-letter topic."""
        self.dead_letter_total.labels(topic, reason).inc()

    def record_alert(self, event: AlertEvent) -> None:
        """Count an emitted alert and keep active/info gauges in step, idempotently.

        A firing of an open episode with a higher severity (an escalation) moves the
        episode's active and info gauges to the new severity and counts once; a repeated
        firing of an open episode, or any event of an episode already resolved (recent
        memory of 10,000 ids), changes nothing. Instant alerts count but never open an
        episode.
        """
        if event.alert_id in self._done:
            return
        if event.dimension == "incident":
            self._group_children(event)
        if event.status == "firing":
            opened = self._open.get(event.alert_id)
            if opened is not None:
                if _RANK.get(event.severity, 0) <= _RANK.get(opened[1], 0):
                    return  # a repeat of the open episode
                self._hide_open(event.alert_id)  # escalation: the gauges follow it
                self.alerts_total.labels(event.rule, event.severity, "firing").inc()
                self._show_open(event)
                return
            self.alerts_total.labels(event.rule, event.severity, "firing").inc()
            if event.is_instant:
                self._remember_done(event.alert_id)
                return
            self._show_open(event)
            return
        self.alerts_total.labels(event.rule, event.severity, "resolved").inc()
        self._remember_done(event.alert_id)
        self._hide_open(event.alert_id)

    def _hide_open(self, alert_id: str) -> None:
        opened = self._open.pop(alert_id, None)
        self._open_series.pop(alert_id, None)
        if opened is not None:
            rule, severity, info = opened
            self.alerts_active.labels(rule, severity).dec()
            self._open_order.get(rule, {}).pop(alert_id, None)
            if alert_id in self._shown:
                self._shown.discard(alert_id)
                self.alert_info.remove(*info)
            self._cap_info(rule)

    def restore_open(self, event: AlertEvent) -> None:
        """Show an episode that was already open before a restart (no counter changes).

        Without this, a restarted worker would drop its open episodes from
        ``aftersales_alert_info`` and Alertmanager would report them resolved.
        """
        if event.status != "firing" or event.is_instant or event.alert_id in self._open:
            return
        self._show_open(event)

    def drop_series(self, dropped: Callable[[SeriesRef], bool]) -> None:
        """Stop exporting every series for which ``dropped`` is true and its open episode
        (no counter changes): after a rebalance another worker owns them and exports them."""
        for series in self.series.snapshot():
            if dropped(series):
                self.series.remove(series)
        for alert_id, series in list(self._open_series.items()):
            if dropped(series):
                self._hide_open(alert_id)

    def _show_open(self, event: AlertEvent) -> None:
        series = SeriesRef(event.rule, event.dimension, event.key)
        info = (
            event.rule,
            event.dimension,
            self.mask.info_key(series),
            event.severity,
            event.direction,
            self.mask.alert_id(event.alert_id, series),
            self.mask.text(event.summary, series),
            self.mask.text(event.runbook, series),
            self._group_of(event),
            event.anomaly_class or "",
        )
        self._open[event.alert_id] = (event.rule, event.severity, info)
        self._open_series[event.alert_id] = series
        self._open_order.setdefault(event.rule, {})[event.alert_id] = (
            _SEVERITY_RANK.get(event.severity, len(_SEVERITY_RANK)),
            event.started_at,
            event.alert_id,
        )
        self.alerts_active.labels(event.rule, event.severity).inc()
        self._cap_info(event.rule)

    def _group_of(self, event: AlertEvent) -> str:
        """The ``group`` label: the incident id for an incident and its folded children,
        else the dimension (Alertmanager groups on it)."""
        if event.dimension == "incident":
            return event.alert_id
        return self._groups.get(event.alert_id, event.dimension)

    def _group_children(self, incident: AlertEvent) -> None:
        """Move an incident's children into its group (firing) or back out (resolved)."""
        folded = incident.context.get("incident", {})
        if incident.status == "firing":
            for child in folded.get("children", []):
                self._groups[child["alert_id"]] = incident.alert_id
        else:
            for alert_id, group in list(self._groups.items()):
                if group == incident.alert_id:
                    del self._groups[alert_id]
        for alert_id, (rule, severity, info) in list(self._open.items()):
            dimension = info[1]
            if dimension == "incident":
                continue
            group = self._groups.get(alert_id, dimension)
            if info[_GROUP_LABEL] == group:
                continue
            relabelled = (*info[:_GROUP_LABEL], group, *info[_GROUP_LABEL + 1 :])
            self._open[alert_id] = (rule, severity, relabelled)
            if alert_id in self._shown:
                self.alert_info.remove(*info)
                self.alert_info.labels(*relabelled).set(1)

    def _cap_info(self, rule: str) -> None:
        """Show the rule's open episodes on ``alert_info`` up to the cap: the highest
        severity first, then the oldest; export how many are left out."""
        order = self._open_order.get(rule, {})
        if len(order) <= self.info_cap:
            wanted = set(order)
        else:
            wanted = {key[2] for key in sorted(order.values())[: self.info_cap]}
        for alert_id in order:
            shown = alert_id in self._shown
            if alert_id in wanted and not shown:
                self._shown.add(alert_id)
                self.alert_info.labels(*self._open[alert_id][2]).set(1)
            elif shown and alert_id not in wanted:
                self._shown.discard(alert_id)
                self.alert_info.remove(*self._open[alert_id][2])
        self.alert_info_dropped.labels(rule).set(len(order) - len(wanted))

    def add_evictions(
        self, evicted: Mapping[tuple[str, str], int], folded: Mapping[str, int]
    ) -> None:
        """Count evicted series by (rule, reason) and keys folded into overflow by rule."""
        for (rule, reason), n in evicted.items():
            checked = _check(reason, get_args(EvictionReason), "reason")
            self.series_evicted_total.labels(rule, checked).inc(n)
        for rule, n in folded.items():
            self.series_folded_total.labels(rule).inc(n)

    def record_snapshot(
        self, stage: str, size: int, seconds: float, *, too_large: bool = False
    ) -> None:
        """Record one snapshot's size and encode time (and whether it was refused)."""
        checked = _check(stage, get_args(SnapshotStage), "stage")
        self.snapshot_bytes.labels(checked).set(size)
        self.snapshot_seconds.labels(checked).set(seconds)
        if too_large:
            self.snapshot_too_large_total.labels(checked).inc()

    def add_commit_failures(self, counts: LabelCounts[tuple[str, str]]) -> None:
        """Count failed offset commits by (stage, kind)."""
        for (stage, kind), n in counts.items():
            self.commit_failures_total.labels(
                _check(stage, get_args(SnapshotStage), "stage"),
                _check(kind, get_args(CommitFailureKind), "kind"),
            ).inc(n)

    def set_mutes_active(self, states: Mapping[tuple[str, str], bool]) -> None:
        """Set ``aftersales_mute_active`` for each (mute, rule)."""
        for (mute, rule), active in states.items():
            self.mute_active.labels(mute, rule).set(1 if active else 0)

    def add_mute_suppressed(self, suppressed: Mapping[tuple[str, str], int]) -> None:
        """Count decisions muted by (mute, rule)."""
        for (mute, rule), n in suppressed.items():
            self.mute_suppressed_total.labels(mute, rule).inc(n)

    def add_twin_deferred(self, deferred: Mapping[str, int]) -> None:
        """Count episodes deferred to a twin cell, by rule."""
        for rule, n in deferred.items():
            self.twin_deferred_total.labels(rule).inc(n)

    def add_cells_set_apart(self, windows: Mapping[str, int]) -> None:
        """Count windows judged without a cell that stood out of them, by rule."""
        for rule, n in windows.items():
            self.cells_set_apart_total.labels(rule).inc(n)

    def record_feedback(self, rule: str, verdict: str) -> None:
        """Count one applied on-call verdict."""
        self.feedback_verdicts_total.labels(
            rule, _check(verdict, ("false", "true"), "verdict")
        ).inc()

    def set_feedback_multiplier(self, series: SeriesRef, multiplier: float) -> None:
        """Export a series' feedback multiplier; back to 1 removes the series."""
        key = self.mask.key(series)
        if key is None:
            return
        labels = (series.rule, series.dimension, key)
        if multiplier == 1.0:
            with contextlib.suppress(KeyError):
                self.feedback_multiplier.remove(*labels)
        else:
            self.feedback_multiplier.labels(*labels).set(multiplier)

    def replace_series(self, decisions: Mapping[SeriesRef, Decision]) -> None:
        """Make ``decisions`` the whole per-series view (evicted series disappear)."""
        self.series.replace(decisions)

    def _remember_done(self, alert_id: str) -> None:
        self._done[alert_id] = None
        while len(self._done) > _DONE_MEMORY:
            self._done.popitem(last=False)

    def observe_latency(self, kind: LatencyKind, seconds: float) -> None:
        """Record event-to-alert delay for a per-event or a windowed alert."""
        checked = _check(kind, get_args(LatencyKind), "kind")
        self.event_to_alert_seconds.labels(checked).observe(max(0.0, seconds))

    def observe_published(self, alert: AlertEvent, now_s: float) -> None:
        """Record how long after its newest possible event ``alert`` was published: the
        window's end (a per-event alert: its event's time) to ``now_s``. Alerts on
        history (a replay or a backfill through Kafka, more than
        :data:`LATENCY_HORIZON_S` behind the clock) and resolutions are not latency and
        are left out."""
        if alert.status != "firing":
            return
        seconds = now_s - alert.window_end.timestamp()
        if -60.0 <= seconds <= LATENCY_HORIZON_S:
            self.observe_latency("event" if alert.is_instant else "window", seconds)

    def add_intake_counts(
        self, counts: LabelCounts[tuple[str, str]], reasons: LabelCounts[tuple[str, str]]
    ) -> None:
        """Add intake outcome counts by (topic, outcome) and dead-letter counts by
        (topic, reason)."""
        for (topic, outcome), n in counts.items():
            self.events_total.labels(topic, outcome).inc(n)
        for (topic, reason), n in reasons.items():
            self.dead_letter_total.labels(topic, reason).inc(n)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Set one partition's consumer lag (records)."""
        self.consumer_lag.labels(topic, str(partition)).set(lag)

    def set_watermark(self, watermark_ms: int) -> None:
        """Set the event-time watermark (given in ms, exported in seconds)."""
        self.watermark_seconds.set(watermark_ms / 1000)

    def set_window_close_lag(self, rule: str, seconds: float) -> None:
        """Set how late the rule's latest window closed (seconds)."""
        self.window_close_lag_seconds.labels(rule).set(seconds)

    def set_broker_connected(self, connected: bool) -> None:
        """Set the broker connection gauge."""
        self.broker_connected.set(1 if connected else 0)

    def update_series(self, decisions: Mapping[SeriesRef, Decision]) -> None:
        """Record the latest decisions of several series (at a window close)."""
        for series, decision in decisions.items():
            self.series.update(series, decision)


def render_latest(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format (``generate_latest``)."""
    return generate_latest(registry)
