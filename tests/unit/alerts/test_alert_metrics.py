"""Tests for alerts.metrics, each on a fresh CollectorRegistry."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.exceptions import MetricLabelError
from alerts.metrics import AlertMetrics, render_latest
from alerts.model import AlertEvent, SeriesRef
from thresholds.decision import Decision

EventFactory = Callable[..., AlertEvent]
DecisionFactory = Callable[..., Decision]

EXPECTED_NAMES = {
    "aftersales_events_total": "counter",
    "aftersales_dead_letter_total": "counter",
    "aftersales_alerts_total": "counter",
    "aftersales_alerts_active": "gauge",
    "aftersales_alert_info": "gauge",
    "aftersales_metric_observed": "gauge",
    "aftersales_metric_baseline": "gauge",
    "aftersales_metric_lower": "gauge",
    "aftersales_metric_upper": "gauge",
    "aftersales_metric_score": "gauge",
    "aftersales_metric_series": "gauge",
    "aftersales_metric_series_exported": "gauge",
    "aftersales_event_to_alert_seconds": "histogram",
    "aftersales_consumer_lag": "gauge",
    "aftersales_watermark_seconds": "gauge",
    "aftersales_window_close_lag_seconds": "gauge",
    "aftersales_broker_connected": "gauge",
    "aftersales_series_evicted_total": "counter",
    "aftersales_series_folded_total": "counter",
    "aftersales_alert_info_dropped": "gauge",
    "aftersales_snapshot_bytes": "gauge",
    "aftersales_snapshot_seconds": "gauge",
    "aftersales_snapshot_too_large_total": "counter",
    "aftersales_commit_failures_total": "counter",
    "aftersales_mute_active": "gauge",
    "aftersales_mute_suppressed_total": "counter",
    "aftersales_twin_deferred_total": "counter",
    "aftersales_cells_set_apart_total": "counter",
    "aftersales_feedback_verdicts_total": "counter",
    "aftersales_feedback_sensitivity_multiplier": "gauge",
    "aftersales_order_risk_scored_total": "counter",
    "aftersales_order_risk_score": "histogram",
    "aftersales_order_risk_top_factor_total": "counter",
}


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test."""
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> AlertMetrics:
    """Metrics with a small cap on a fresh registry."""
    return AlertMetrics.create(registry, series_cap=2)


def active(registry: CollectorRegistry, rule: str = "return_rate", sev: str = "critical") -> float:
    """The alerts_active value for one rule and severity."""
    value = registry.get_sample_value("aftersales_alerts_active", {"rule": rule, "severity": sev})
    assert value is not None
    return value


def alerts_total(registry: CollectorRegistry, status: str) -> float | None:
    """alerts_total for return_rate/critical and a status."""
    return registry.get_sample_value(
        "aftersales_alerts_total",
        {"rule": "return_rate", "severity": "critical", "status": status},
    )


def info_samples(registry: CollectorRegistry) -> list[dict[str, str]]:
    """Label sets of every alert_info sample."""
    return [
        s.labels
        for family in registry.collect()
        if family.name == "aftersales_alert_info"
        for s in family.samples
    ]


def observed(registry: CollectorRegistry, key: str, gauge: str = "observed") -> float | None:
    """A per-series gauge for return_rate/sku/key."""
    return registry.get_sample_value(
        f"aftersales_metric_{gauge}", {"rule": "return_rate", "dimension": "sku", "key": key}
    )


class TestNames:
    def test_exposition_names_and_types(self, registry: CollectorRegistry) -> None:
        """The scrape declares exactly the listed metric names with their types."""
        AlertMetrics.create(registry)
        text = generate_latest(registry).decode()
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
        types = {n: t for n, t in types.items() if not n.endswith("_created")}
        assert types == EXPECTED_NAMES

    @pytest.mark.parametrize(
        ("name", "labels"),
        [
            ("aftersales_events_total", ("topic", "outcome")),
            ("aftersales_dead_letter_total", ("topic", "reason")),
            ("aftersales_alerts_total", ("rule", "severity", "status")),
            ("aftersales_alerts_active", ("rule", "severity")),
            (
                "aftersales_alert_info",
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
            ),
            ("aftersales_event_to_alert_seconds", ("kind",)),
            ("aftersales_consumer_lag", ("topic", "partition")),
            ("aftersales_window_close_lag_seconds", ("rule",)),
        ],
    )
    def test_label_names(self, metrics: AlertMetrics, name: str, labels: tuple[str, ...]) -> None:
        """Each labelled metric has exactly the listed labels."""
        by_name = {
            m._name + ("_total" if m._type == "counter" else ""): m._labelnames
            for m in (
                metrics.events_total,
                metrics.dead_letter_total,
                metrics.alerts_total,
                metrics.alerts_active,
                metrics.alert_info,
                metrics.event_to_alert_seconds,
                metrics.consumer_lag,
                metrics.window_close_lag_seconds,
            )
        }
        assert by_name[name] == labels

    def test_histogram_buckets(self, registry: CollectorRegistry, metrics: AlertMetrics) -> None:
        """Buckets run from 5 ms to 60 s."""
        metrics.observe_latency("window", 0.001)
        text = render_latest(registry).decode()
        les = re.findall(
            r'aftersales_event_to_alert_seconds_bucket\{kind="window",le="([^"]+)"', text
        )
        assert (les[0], les[-2], les[-1]) == ("0.005", "60.0", "+Inf")

    def test_two_registries_are_independent(self) -> None:
        """Creating on two registries does not clash."""
        a, b = CollectorRegistry(), CollectorRegistry()
        AlertMetrics.create(a).record_event("orders", "ok")
        AlertMetrics.create(b)
        assert (
            b.get_sample_value("aftersales_events_total", {"topic": "orders", "outcome": "ok"})
            is None
        )


class TestCounters:
    @pytest.mark.parametrize("outcome", ["ok", "invalid", "late", "duplicate"])
    def test_event_outcomes(
        self, registry: CollectorRegistry, metrics: AlertMetrics, outcome: str
    ) -> None:
        """record_event counts by topic and outcome."""
        metrics.record_event("aftersales.orders", outcome)  # type: ignore[arg-type]
        labels = {"topic": "aftersales.orders", "outcome": outcome}
        assert registry.get_sample_value("aftersales_events_total", labels) == 1

    def test_unknown_outcome_rejected(self, metrics: AlertMetrics) -> None:
        """An outcome outside the closed set raises MetricLabelError."""
        with pytest.raises(MetricLabelError, match="outcome"):
            metrics.record_event("aftersales.orders", "weird")  # type: ignore[arg-type]

    def test_topics_are_pre_created(self, registry: CollectorRegistry) -> None:
        """Given topics start at zero for every outcome."""
        AlertMetrics.create(registry, topics=["aftersales.orders"])
        labels = {"topic": "aftersales.orders", "outcome": "late"}
        assert registry.get_sample_value("aftersales_events_total", labels) == 0

    def test_dead_letter(self, registry: CollectorRegistry, metrics: AlertMetrics) -> None:
        """record_dead_letter counts by topic and reason."""
        metrics.record_dead_letter("aftersales.orders", "invalid_json")
        labels = {"topic": "aftersales.orders", "reason": "invalid_json"}
        assert registry.get_sample_value("aftersales_dead_letter_total", labels) == 1

    def test_latency(self, registry: CollectorRegistry, metrics: AlertMetrics) -> None:
        """observe_latency feeds the histogram per kind."""
        metrics.observe_latency("event", 0.2)
        labels = {"kind": "event"}
        assert registry.get_sample_value("aftersales_event_to_alert_seconds_count", labels) == 1
        assert registry.get_sample_value("aftersales_event_to_alert_seconds_sum", labels) == 0.2

    def test_published_alerts_feed_the_latency_histogram(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A firing alert published 3 s after its window's end is observed as window
        latency; a resolution, and an alert on last week's history, are not."""
        alert = make_event()
        end = alert.window_end.timestamp()
        metrics.observe_published(alert, end + 3.0)
        metrics.observe_published(make_event(status="resolved"), end + 3.0)
        metrics.observe_published(alert, end + 7 * 86_400)
        labels = {"kind": "window"}
        assert registry.get_sample_value("aftersales_event_to_alert_seconds_count", labels) == 1
        assert registry.get_sample_value("aftersales_event_to_alert_seconds_sum", labels) == 3.0

    def test_unknown_latency_kind_rejected(self, metrics: AlertMetrics) -> None:
        """A kind outside event|window raises MetricLabelError."""
        with pytest.raises(MetricLabelError):
            metrics.observe_latency("batch", 1.0)  # type: ignore[arg-type]


class TestGauges:
    def test_watermark_in_seconds(self, registry: CollectorRegistry, metrics: AlertMetrics) -> None:
        """The watermark is given in ms and exported in seconds."""
        metrics.set_watermark(1_793_614_500_500)
        assert registry.get_sample_value("aftersales_watermark_seconds") == 1_793_614_500.5

    def test_consumer_lag(self, registry: CollectorRegistry, metrics: AlertMetrics) -> None:
        """Lag is per topic and partition."""
        metrics.set_consumer_lag("aftersales.orders", 3, 120)
        labels = {"topic": "aftersales.orders", "partition": "3"}
        assert registry.get_sample_value("aftersales_consumer_lag", labels) == 120

    def test_window_close_lag(self, registry: CollectorRegistry, metrics: AlertMetrics) -> None:
        """Window close lag is per rule."""
        metrics.set_window_close_lag("return_rate", 1.5)
        labels = {"rule": "return_rate"}
        assert registry.get_sample_value("aftersales_window_close_lag_seconds", labels) == 1.5

    @pytest.mark.parametrize(("connected", "value"), [(True, 1), (False, 0)])
    def test_broker_connected(
        self, registry: CollectorRegistry, metrics: AlertMetrics, connected: bool, value: int
    ) -> None:
        """The broker gauge is 1 or 0."""
        metrics.set_broker_connected(connected)
        assert registry.get_sample_value("aftersales_broker_connected") == value


class TestRecordAlert:
    def test_contract_rules_start_at_zero(self, registry: CollectorRegistry) -> None:
        """Active gauges of contract rules exist at 0 before any alert."""
        AlertMetrics.create(registry)
        assert active(registry, "wait_time_p90", "info") == 0

    def test_firing_counts_and_activates(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A firing event increments alerts_total and alerts_active."""
        metrics.record_alert(make_event())
        assert (alerts_total(registry, "firing"), active(registry)) == (1, 1)

    def test_info_gauge_carries_texts(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """An open episode has one info sample with summary and runbook labels."""
        event = make_event()
        metrics.record_alert(event)
        [labels] = info_samples(registry)
        assert labels["alert_id"] == event.alert_id
        assert (labels["summary"], labels["runbook"]) == (event.summary, event.runbook)

    def test_resolve_deactivates_and_removes_info(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A resolved event decrements active and removes the info sample."""
        metrics.record_alert(make_event())
        metrics.record_alert(make_event(status="resolved", summary="Back to normal."))
        assert (alerts_total(registry, "resolved"), active(registry)) == (1, 0)
        assert info_samples(registry) == []

    def test_duplicate_firing_ignored(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """The same firing twice counts once."""
        metrics.record_alert(make_event())
        metrics.record_alert(make_event())
        assert (alerts_total(registry, "firing"), active(registry)) == (1, 1)

    def test_escalation_moves_the_gauges(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A firing of the open episode with a higher severity moves alerts_active and the
        info sample to it and counts once; the resolve then balances the new severity."""
        metrics.record_alert(make_event(severity="warning"))
        metrics.record_alert(make_event(severity="critical"))
        metrics.record_alert(make_event(severity="critical"))  # replayed
        metrics.record_alert(make_event(severity="warning"))  # never back down
        assert (active(registry, sev="warning"), active(registry, sev="critical")) == (0, 1)
        [labels] = info_samples(registry)
        assert labels["severity"] == "critical"
        assert alerts_total(registry, "firing") == 1  # critical, once
        assert (
            registry.get_sample_value(
                "aftersales_alerts_total",
                {"rule": "return_rate", "severity": "warning", "status": "firing"},
            )
            == 1
        )
        metrics.record_alert(make_event(status="resolved", severity="critical"))
        assert (active(registry, sev="warning"), active(registry, sev="critical")) == (0, 0)
        assert info_samples(registry) == []

    def test_duplicate_resolved_ignored(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """The same resolved twice counts once and never goes negative."""
        metrics.record_alert(make_event())
        for _ in range(2):
            metrics.record_alert(make_event(status="resolved"))
        assert (alerts_total(registry, "resolved"), active(registry)) == (1, 0)

    def test_replayed_firing_after_resolve_ignored(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A replayed firing of a resolved episode does not reopen it."""
        metrics.record_alert(make_event())
        metrics.record_alert(make_event(status="resolved"))
        metrics.record_alert(make_event())
        assert (alerts_total(registry, "firing"), active(registry)) == (1, 0)

    def test_resolve_of_unknown_episode_counts_only(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A resolve whose firing predates this process counts but leaves active at 0."""
        metrics.record_alert(make_event(status="resolved"))
        assert (alerts_total(registry, "resolved"), active(registry)) == (1, 0)

    def test_instant_alert_never_active(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_event: EventFactory
    ) -> None:
        """A per-event alert counts but opens no episode."""
        t = make_event().window_end
        event = make_event(rule="order_outlier", window_start=t, window_end=t, started_at=t)
        metrics.record_alert(event)
        firing = registry.get_sample_value(
            "aftersales_alerts_total",
            {"rule": "order_outlier", "severity": "critical", "status": "firing"},
        )
        assert (firing, active(registry, "order_outlier"), info_samples(registry)) == (1, 0, [])


class TestSeriesCollector:
    def test_exports_latest_decision(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """Each gauge shows the latest decision's value."""
        series = SeriesRef("return_rate", "sku", "A")
        metrics.series.update(series, make_decision(observed=0.1))
        metrics.series.update(series, make_decision(observed=0.2))
        assert [
            observed(registry, "A", g) for g in ("observed", "baseline", "lower", "upper", "score")
        ] == [0.2, 0.098, 0.041, 0.156, 3.4]

    @pytest.mark.parametrize("gauge", ["baseline", "lower", "upper"])
    def test_none_not_exported(
        self,
        registry: CollectorRegistry,
        metrics: AlertMetrics,
        make_decision: DecisionFactory,
        gauge: str,
    ) -> None:
        """A None value is left out while the others are exported."""
        metrics.series.update(SeriesRef("return_rate", "sku", "A"), make_decision(**{gauge: None}))
        assert observed(registry, "A", gauge) is None
        assert observed(registry, "A") == 0.312

    def test_cap_keeps_most_anomalous(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """Beyond the cap, the largest |score| series are exported."""
        quiet = make_decision(alerting=False, transition=None)
        for key, score in [("A", 0.1), ("B", -5.0), ("C", 2.0), ("D", 0.0)]:
            metrics.series.update(SeriesRef("return_rate", "sku", key), replace(quiet, score=score))
        exported = [k for k in "ABCD" if observed(registry, k) is not None]
        assert exported == ["B", "C"]

    def test_ties_broken_by_key(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """Equal scores export in key order."""
        quiet = make_decision(alerting=False, transition=None, score=1.0)
        for key in "DCBA":
            metrics.series.update(SeriesRef("return_rate", "sku", key), quiet)
        assert [k for k in "ABCD" if observed(registry, k) is not None] == ["A", "B"]

    def test_firing_always_exported_beyond_cap(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """Alerting series are exported even when they exceed the cap."""
        loud = make_decision(alerting=False, transition=None, score=9.0)
        metrics.series.update(SeriesRef("return_rate", "sku", "Z"), loud)
        for key in "ABC":
            metrics.series.update(SeriesRef("return_rate", "sku", key), make_decision(score=0.5))
        assert [k for k in "ABCZ" if observed(registry, k) is not None] == ["A", "B", "C"]

    def test_firing_first_then_most_anomalous(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """One alerting series plus the most anomalous quiet one fill a cap of 2."""
        metrics.series.update(SeriesRef("return_rate", "sku", "F"), make_decision(score=0.2))
        for key, score in [("X", 1.0), ("Y", 3.0)]:
            decision = make_decision(alerting=False, transition=None, score=score)
            metrics.series.update(SeriesRef("return_rate", "sku", key), decision)
        assert [k for k in "FXY" if observed(registry, k) is not None] == ["F", "Y"]

    def test_cap_is_per_rule(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """Each rule gets its own cap and its own tracked/exported counts."""
        quiet = make_decision(alerting=False, transition=None)
        for rule in ("return_rate", "complaint_rate"):
            for key in "ABC":
                metrics.series.update(SeriesRef(rule, "sku", key), quiet)
        for rule in ("return_rate", "complaint_rate"):
            assert registry.get_sample_value("aftersales_metric_series", {"rule": rule}) == 3
            assert (
                registry.get_sample_value("aftersales_metric_series_exported", {"rule": rule}) == 2
            )

    def test_removed_series_disappears(
        self, registry: CollectorRegistry, metrics: AlertMetrics, make_decision: DecisionFactory
    ) -> None:
        """A removed series is no longer exported."""
        series = SeriesRef("return_rate", "sku", "A")
        metrics.update_series({series: make_decision()})
        metrics.series.remove(series)
        assert observed(registry, "A") is None

    def test_negative_cap_rejected(self, registry: CollectorRegistry) -> None:
        """A negative cap is a configuration error."""
        with pytest.raises(ValueError, match="series_cap"):
            AlertMetrics.create(registry, series_cap=-1)


class TestRestoreOpen:
    def test_restored_episode_is_shown_without_counting(
        self,
        metrics: AlertMetrics,
        registry: CollectorRegistry,
        make_event: Callable[..., AlertEvent],
    ) -> None:
        """An episode open before a restart is active and in alert_info, but not counted again."""
        metrics.restore_open(make_event())
        assert active(registry) == 1
        assert [s["alert_id"] for s in info_samples(registry)] == ["93544e9743f84af0"]
        assert not alerts_total(registry, "firing")

    def test_restored_episode_resolves_normally(
        self,
        metrics: AlertMetrics,
        registry: CollectorRegistry,
        make_event: Callable[..., AlertEvent],
    ) -> None:
        """Its later resolved event clears the gauges as for any episode."""
        metrics.restore_open(make_event())
        metrics.record_alert(make_event(status="resolved"))
        assert active(registry) == 0
        assert info_samples(registry) == []


def dropped(registry: CollectorRegistry, rule: str = "return_rate") -> float | None:
    """aftersales_alert_info_dropped for one rule."""
    return registry.get_sample_value("aftersales_alert_info_dropped", {"rule": rule})


class TestAlertInfoCap:
    def _open(
        self,
        metrics: AlertMetrics,
        make_event: Callable[..., AlertEvent],
        plan: list[tuple[str, str, int]],
    ) -> None:
        for alert_id, severity, hour in plan:
            metrics.record_alert(
                make_event(
                    alert_id=alert_id,
                    severity=severity,
                    key=alert_id,
                    started_at=datetime(2026, 11, 2, hour, tzinfo=UTC),
                )
            )

    def test_highest_severity_shown_first(
        self,
        metrics: AlertMetrics,
        registry: CollectorRegistry,
        make_event: Callable[..., AlertEvent],
    ) -> None:
        """Over the cap (2), critical episodes are shown before warnings, older first, and the
        number left out is exported."""
        self._open(
            metrics,
            make_event,
            [("w-old", "warning", 1), ("w-new", "warning", 5), ("crit", "critical", 9)],
        )
        assert {s["alert_id"] for s in info_samples(registry)} == {"crit", "w-old"}
        assert dropped(registry) == 1
        assert active(registry, sev="warning") == 2  # active still counts every episode

    def test_resolving_a_shown_episode_shows_a_hidden_one(
        self,
        metrics: AlertMetrics,
        registry: CollectorRegistry,
        make_event: Callable[..., AlertEvent],
    ) -> None:
        """When a shown episode resolves, the next one in line takes its place."""
        self._open(
            metrics, make_event, [("a", "warning", 1), ("b", "warning", 2), ("c", "warning", 3)]
        )
        metrics.record_alert(
            make_event(alert_id="a", severity="warning", key="a", status="resolved")
        )
        assert {s["alert_id"] for s in info_samples(registry)} == {"b", "c"}
        assert dropped(registry) == 0

    def test_cap_is_per_rule(
        self,
        metrics: AlertMetrics,
        registry: CollectorRegistry,
        make_event: Callable[..., AlertEvent],
    ) -> None:
        """One rule's flood of episodes does not hide another rule's."""
        self._open(metrics, make_event, [(f"r{i}", "critical", i) for i in range(5)])
        metrics.record_alert(
            make_event(
                alert_id="burst", rule="customer_order_burst", dimension="customer", key="C1"
            )
        )
        shown = {s["alert_id"] for s in info_samples(registry)}
        assert "burst" in shown and len(shown) == 3
        assert dropped(registry) == 3 and dropped(registry, "customer_order_burst") == 0

    def test_flood_of_burst_episodes_is_capped(
        self, registry: CollectorRegistry, make_event: Callable[..., AlertEvent]
    ) -> None:
        """2,000 open burst episodes export at most series_cap alert_info series."""
        metrics = AlertMetrics.create(registry, series_cap=100)
        for i in range(2_000):
            metrics.record_alert(
                make_event(
                    alert_id=f"b{i}",
                    rule="customer_order_burst",
                    dimension="customer",
                    key=f"C{i}",
                    severity="warning" if i % 7 else "critical",
                )
            )
        samples = info_samples(registry)
        assert len(samples) == 100
        assert {s["severity"] for s in samples} == {"critical"}
        assert dropped(registry, "customer_order_burst") == 1_900


class TestStateMetrics:
    def test_evictions_are_counted(
        self, metrics: AlertMetrics, registry: CollectorRegistry
    ) -> None:
        """Evictions count by rule and reason; folded keys by rule."""
        metrics.add_evictions(
            {("return_rate", "ttl"): 3, ("return_rate", "cap"): 1}, {"return_rate": 5}
        )
        value = registry.get_sample_value
        assert (
            value("aftersales_series_evicted_total", {"rule": "return_rate", "reason": "ttl"}) == 3
        )
        assert (
            value("aftersales_series_evicted_total", {"rule": "return_rate", "reason": "cap"}) == 1
        )
        assert value("aftersales_series_folded_total", {"rule": "return_rate"}) == 5

    def test_unknown_eviction_reason_refused(self, metrics: AlertMetrics) -> None:
        """The reason label is a closed set."""
        with pytest.raises(MetricLabelError):
            metrics.add_evictions({("return_rate", "bored"): 1}, {})

    def test_replace_series_drops_the_rest(
        self, metrics: AlertMetrics, registry: CollectorRegistry, make_decision: DecisionFactory
    ) -> None:
        """Replacing the view drops series no longer held (evicted or moved away)."""
        metrics.update_series(
            {
                SeriesRef("return_rate", "sku", "A"): make_decision(),
                SeriesRef("return_rate", "sku", "B"): make_decision(),
            }
        )
        metrics.replace_series({SeriesRef("return_rate", "sku", "B"): make_decision()})
        assert observed(registry, "A") is None
        assert observed(registry, "B") is not None

    def test_snapshot_size_and_refusal(
        self, metrics: AlertMetrics, registry: CollectorRegistry
    ) -> None:
        """A snapshot's size and encode time are gauges; a refused one is counted."""
        metrics.record_snapshot("closer", 2_000, 0.25)
        metrics.record_snapshot("closer", 9_000, 0.5, too_large=True)
        value = registry.get_sample_value
        assert value("aftersales_snapshot_bytes", {"stage": "closer"}) == 9_000
        assert value("aftersales_snapshot_seconds", {"stage": "closer"}) == 0.5
        assert value("aftersales_snapshot_too_large_total", {"stage": "closer"}) == 1

    def test_commit_failures_by_stage_and_kind(
        self, metrics: AlertMetrics, registry: CollectorRegistry
    ) -> None:
        """Failed commits are counted by stage and kind; every series exists at 0 from the
        start, so rate() and the alert rule see it before the first failure."""

        def commits(stage: str, kind: str) -> float | None:
            labels = {"stage": stage, "kind": kind}
            return registry.get_sample_value("aftersales_commit_failures_total", labels)

        for stage in ("intake", "closer"):
            for kind in ("superseded", "error"):
                assert commits(stage, kind) == 0
        metrics.add_commit_failures({("intake", "superseded"): 3, ("closer", "error"): 1})
        metrics.add_commit_failures({("intake", "superseded"): 2})
        assert commits("intake", "superseded") == 5
        assert commits("closer", "error") == 1

    @pytest.mark.parametrize(
        ("stage", "kind"), [("intake", "fatal"), ("sink", "error")], ids=["kind", "stage"]
    )
    def test_commit_failure_labels_are_checked(
        self, metrics: AlertMetrics, stage: str, kind: str
    ) -> None:
        """A stage or kind outside the closed sets is refused, naming the label."""
        with pytest.raises(MetricLabelError):
            metrics.add_commit_failures({(stage, kind): 1})


def test_group_label_position_matches_the_info_labels() -> None:
    """Regrouping an open alert rewrites the ``group`` label in place, by position."""
    from alerts.metrics import _GROUP_LABEL

    metrics = AlertMetrics.create(CollectorRegistry())
    assert metrics.alert_info._labelnames[_GROUP_LABEL] == "group"


class TestRiskMetrics:
    def test_scored_orders_by_level_histogram_and_top_factor(
        self, registry: CollectorRegistry
    ) -> None:
        """A scored order counts by stage and level, lands in the score histogram, and a
        medium or high one counts its top factor (a low one does not)."""
        metrics = AlertMetrics.create(registry)
        metrics.record_risk("delivered", "high", 0.6, "customer_history")
        metrics.record_risk("delivered", "low", 0.05, "quantity")
        assert (
            registry.get_sample_value(
                "aftersales_order_risk_scored_total", {"stage": "delivered", "level": "high"}
            )
            == 1
        )
        assert (
            registry.get_sample_value("aftersales_order_risk_score_count", {"stage": "delivered"})
            == 2
        )
        assert (
            registry.get_sample_value(
                "aftersales_order_risk_top_factor_total", {"factor": "customer_history"}
            )
            == 1
        )
        assert (
            registry.get_sample_value(
                "aftersales_order_risk_top_factor_total", {"factor": "quantity"}
            )
            is None
        )

    def test_many_at_once_count_as_one_by_one(self) -> None:
        """``record_risks`` leaves every risk sample where ``record_risk`` per order does."""
        scored = [
            ("delivered", "high", 0.6, "customer_history"),
            ("delivered", "low", 0.05, "quantity"),
            ("placed", "medium", 0.2, "customer_history"),
            ("placed", "medium", 0.25, None),
            ("delivered", "high", 0.9, "customer_history"),
        ]
        one, many = CollectorRegistry(), CollectorRegistry()
        single = AlertMetrics.create(one)
        for item in scored:
            single.record_risk(*item)
        AlertMetrics.create(many).record_risks(scored)

        def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[object, ...]], float]:
            return {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for metric in registry.collect()
                if metric.name.startswith("aftersales_order_risk")
                for sample in metric.samples
                if not sample.name.endswith("_created")
            }

        assert samples(many) == samples(one)
        assert samples(one)

    def test_unknown_stage_is_refused(self, registry: CollectorRegistry) -> None:
        """A stage outside placed/shipped/delivered raises instead of making a series."""
        metrics = AlertMetrics.create(registry)
        with pytest.raises(MetricLabelError):
            metrics.record_risk("returned", "high", 0.6, None)
