"""AlertMetrics.drop_series: a worker stops exporting series it no longer owns."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from alerts.model import AlertEvent, SeriesRef
from thresholds.decision import Decision


def info_ids(registry: CollectorRegistry) -> set[str]:
    """alert_id labels of the exported aftersales_alert_info samples."""
    return {
        sample.labels["alert_id"]
        for family in registry.collect()
        if family.name == "aftersales_alert_info"
        for sample in family.samples
    }


def observed_keys(registry: CollectorRegistry) -> set[str]:
    """Series keys exported on aftersales_metric_observed."""
    return {
        sample.labels["key"]
        for family in registry.collect()
        if family.name == "aftersales_metric_observed"
        for sample in family.samples
    }


class TestDropSeries:
    def test_drops_matching_series_and_episodes_only(
        self, make_event: Callable[..., AlertEvent], make_decision: Callable[..., Decision]
    ) -> None:
        """Matching gauges and open episodes disappear; the others stay, counters unchanged."""
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry)
        metrics.record_alert(make_event(alert_id="a1", key="SKU-1"))
        metrics.record_alert(make_event(alert_id="a2", key="SKU-2"))
        metrics.update_series(
            {
                SeriesRef("return_rate", "sku", "SKU-1"): make_decision(),
                SeriesRef("return_rate", "sku", "SKU-2"): make_decision(),
            }
        )
        labels = {"rule": "return_rate", "severity": "critical"}
        assert registry.get_sample_value("aftersales_alerts_active", labels) == 2

        metrics.drop_series(lambda series: series.key == "SKU-1")

        assert info_ids(registry) == {"a2"}
        assert observed_keys(registry) == {"SKU-2"}
        assert registry.get_sample_value("aftersales_alerts_active", labels) == 1
        assert (
            registry.get_sample_value("aftersales_alerts_total", {**labels, "status": "resolved"})
            == 0
        )
        assert (
            registry.get_sample_value("aftersales_alerts_total", {**labels, "status": "firing"})
            == 2
        )

    def test_episode_shows_again_when_the_partition_returns(
        self, make_event: Callable[..., AlertEvent]
    ) -> None:
        """A dropped episode is shown again when its snapshot is restored here later."""
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry)
        event = make_event(alert_id="a1")
        metrics.record_alert(event)
        metrics.drop_series(lambda series: True)
        assert info_ids(registry) == set()
        metrics.restore_open(event)
        assert info_ids(registry) == {"a1"}

    def test_drops_episodes_of_hashed_personal_keys(
        self, make_event: Callable[..., AlertEvent]
    ) -> None:
        """With customer ids hashed on the labels (the default), the drop still matches
        the real series: a lost partition's burst episode leaves alert_info."""
        from alerts.personal import LabelMask

        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry, mask=LabelMask("hash", b"k"))
        metrics.record_alert(
            make_event(alert_id="b1", rule="customer_order_burst", dimension="customer", key="C-1")
        )
        assert len(info_ids(registry)) == 1
        metrics.drop_series(lambda series: series.key == "C-1")
        assert info_ids(registry) == set()
