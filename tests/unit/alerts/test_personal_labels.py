"""Customer and address keys in Prometheus labels: hashed, dropped or kept (alerts.personal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.metrics import AlertMetrics
from alerts.model import AlertEvent, SeriesRef
from alerts.personal import REDACTED, LabelMask
from thresholds.decision import Decision

EventFactory = Callable[..., AlertEvent]
DecisionFactory = Callable[..., Decision]

CUSTOMER = SeriesRef("customer_order_burst", "customer", "C-0000077")
ADDRESS = SeriesRef("customer_order_burst", "address", "A-0000077")
SKU = SeriesRef("return_rate", "sku", "SKU-00042")


def burst(make_event: EventFactory, series: SeriesRef = CUSTOMER) -> AlertEvent:
    """A firing burst alert whose summary and runbook name the key."""
    return make_event(
        rule=series.rule,
        dimension=series.dimension,
        key=series.key,
        alert_id="b" * 16,
        summary=f"Orders for {series.dimension} {series.key} is 12 against a normal 1.0.",
        runbook=f"Pause the orders from {series.dimension} {series.key}, then call them.",
    )


def info(registry: CollectorRegistry) -> list[dict[str, str]]:
    """Label sets of every alert_info sample."""
    return [
        s.labels for f in registry.collect() if f.name == "aftersales_alert_info" for s in f.samples
    ]


def observed_keys(registry: CollectorRegistry) -> set[str]:
    """Keys of every aftersales_metric_observed sample."""
    return {
        s.labels["key"]
        for f in registry.collect()
        if f.name == "aftersales_metric_observed"
        for s in f.samples
    }


def setup(
    mode: str, make_event: EventFactory, make_decision: DecisionFactory, secret: bytes = b"k"
) -> tuple[CollectorRegistry, LabelMask]:
    """Metrics in ``mode`` with one open burst alert and three series in the view."""
    registry = CollectorRegistry()
    mask = LabelMask(mode, secret)  # type: ignore[arg-type]
    metrics = AlertMetrics.create(registry, mask=mask)
    metrics.record_alert(burst(make_event))
    for series in (CUSTOMER, ADDRESS, SKU):
        metrics.series.update(series, make_decision())
    return registry, mask


class TestLabelMask:
    def test_hash_is_stable_short_hex(self) -> None:
        """The same secret and key always give the same ``h-`` + 12 hex digits."""
        first = LabelMask("hash", b"s").key(CUSTOMER)
        assert first == LabelMask("hash", b"s").key(CUSTOMER)
        assert first is not None and first.startswith("h-") and len(first) == 14
        int(first[2:], 16)  # noqa: FURB166 - hex digits after our own prefix

    def test_hash_depends_on_the_secret(self) -> None:
        """Another secret gives another label, so a guessed id cannot be checked without it."""
        assert LabelMask("hash", b"a").key(CUSTOMER) != LabelMask("hash", b"b").key(CUSTOMER)

    def test_hash_depends_on_the_dimension(self) -> None:
        """The same id as customer and as address hashes differently."""
        mask = LabelMask("hash", b"s")
        assert mask.key(CUSTOMER) != mask.key(CUSTOMER._replace(dimension="address"))

    @pytest.mark.parametrize("mode", ["hash", "drop", "keep"])
    def test_other_dimensions_untouched(self, mode: str) -> None:
        """SKU, region and other non-personal keys are never rewritten."""
        assert LabelMask(mode).key(SKU) == "SKU-00042"  # type: ignore[arg-type]

    def test_compound_personal_dimension(self) -> None:
        """A compound dimension with a personal part is masked, in labels and texts."""
        series = SeriesRef("customer_order_burst", "customer,address", "C-1,A-1")
        mask = LabelMask("hash", b"s")
        text = mask.text("Orders for customer C-1 / address A-1.", series)
        assert mask.key(series) != "C-1,A-1"
        assert "C-1" not in text and "A-1" not in text

    def test_text_replaces_whole_tokens_only(self) -> None:
        """A short id is not replaced inside numbers or longer ids."""
        series = SeriesRef("customer_order_burst", "customer", "1")
        text = LabelMask("drop").text("customer 1 placed 12 orders (C-1, 1.5).", series)
        assert text == f"customer {REDACTED} placed 12 orders (C-1, 1.5)."

    def test_alert_id_keyed_for_personal_series_only(self) -> None:
        """A personal series' alert_id label is keyed; others keep the plain id."""
        mask = LabelMask("hash", b"s")
        assert mask.alert_id("a" * 16, SKU) == "a" * 16
        keyed = mask.alert_id("a" * 16, CUSTOMER)
        assert keyed != "a" * 16 and keyed == mask.alert_id("a" * 16, CUSTOMER)
        assert keyed != LabelMask("hash", b"t").alert_id("a" * 16, CUSTOMER)

    def test_unknown_mode_refused(self) -> None:
        """A mode other than hash, drop or keep is a ValueError naming it."""
        with pytest.raises(ValueError, match="'scramble'"):
            LabelMask("scramble")  # type: ignore[arg-type]


class TestMetricsWithMask:
    def test_hash_mode_hides_ids_everywhere(
        self, make_event: EventFactory, make_decision: DecisionFactory
    ) -> None:
        """In hash mode no customer or address id appears anywhere on /metrics."""
        registry, mask = setup("hash", make_event, make_decision)
        text = generate_latest(registry).decode()
        assert "C-0000077" not in text and "A-0000077" not in text
        (labels,) = info(registry)
        assert labels["key"] == mask.key(CUSTOMER)
        assert labels["alert_id"] == mask.alert_id("b" * 16, CUSTOMER) != "b" * 16
        assert str(mask.key(CUSTOMER)) in labels["summary"]
        assert str(mask.key(CUSTOMER)) in labels["runbook"]
        assert observed_keys(registry) == {mask.key(CUSTOMER), mask.key(ADDRESS), "SKU-00042"}

    def test_drop_mode_leaves_personal_series_out(
        self, make_event: EventFactory, make_decision: DecisionFactory
    ) -> None:
        """In drop mode personal series have no gauges and their alert shows ``redacted``."""
        registry, _ = setup("drop", make_event, make_decision)
        text = generate_latest(registry).decode()
        assert "C-0000077" not in text and "A-0000077" not in text
        (labels,) = info(registry)
        assert labels["key"] == REDACTED
        assert labels["alert_id"] == LabelMask("drop", b"k").alert_id("b" * 16, CUSTOMER)
        assert observed_keys(registry) == {"SKU-00042"}
        tracked = registry.get_sample_value(
            "aftersales_metric_series", {"rule": "customer_order_burst"}
        )
        assert tracked == 2

    def test_keep_mode_shows_real_keys(
        self, make_event: EventFactory, make_decision: DecisionFactory
    ) -> None:
        """In keep mode labels carry the real ids, as before."""
        registry, _ = setup("keep", make_event, make_decision)
        (labels,) = info(registry)
        assert labels["key"] == "C-0000077" and "C-0000077" in labels["summary"]
        assert labels["alert_id"] == "b" * 16
        assert observed_keys(registry) == {"C-0000077", "A-0000077", "SKU-00042"}

    def test_resolve_removes_the_masked_info(
        self, make_event: EventFactory, make_decision: DecisionFactory
    ) -> None:
        """Resolving a hashed alert removes its alert_info series."""
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry, mask=LabelMask("hash", b"k"))
        metrics.record_alert(burst(make_event))
        metrics.record_alert(
            replace(burst(make_event), status="resolved", summary="Back to normal.")
        )
        assert info(registry) == []
