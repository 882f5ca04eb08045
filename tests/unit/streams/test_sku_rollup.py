"""order_outlier verdicts rolled up into one episode per sku and cause."""

from __future__ import annotations

import dataclasses
import json

import pytest

from alerts.text import AlertTexts
from streams.pipeline.aggregate import EventAlert
from streams.pipeline.sku_rollup import (
    MAX_ORDERS,
    QUIET_WINDOWS,
    RATE_ALPHA,
    RATE_GAIN,
    RATE_WARM,
    SkuRollup,
    decay_over_empty_windows,
)
from thresholds.decision import Decision
from thresholds.tails import poisson_tail

WINDOW = 900_000
T0 = 1_793_000_000_000 - 1_793_000_000_000 % WINDOW


def verdict(
    order: str,
    ts: int,
    *,
    sku: str = "SKU-1",
    direction: str = "down",
    measure: str = "unit_price",
    severity: str = "critical",
) -> EventAlert:
    """A per-order verdict as the intake sends it."""
    decision = Decision(
        2.0, 20.0, 10.0, 40.0, -6.0, 0.9, None, True, True, direction, severity, True, "fire"
    )
    return EventAlert(
        "orders/0", "order_outlier", "order", order, ts, decision, {"measure": measure, "sku": sku}
    )


def rollup() -> SkuRollup:
    return SkuRollup("order_outlier", WINDOW, AlertTexts())


class TestSkuRollup:
    def test_many_orders_one_episode(self) -> None:
        """Verdicts of one sku in one window open one episode naming every order."""
        r = rollup()
        for i in range(4):
            r.add(verdict(f"O-{i}", T0 + i * 1000))
        events = r.close(T0 + WINDOW)
        assert [(e.status, e.dimension, e.key) for e in events] == [("firing", "sku", "SKU-1")]
        assert events[0].context["orders"] == ["O-0", "O-1", "O-2", "O-3"]
        assert "SKU-1" in events[0].summary and "O-3" in events[0].summary
        assert events[0].anomaly_class == "pricing"

    def test_more_verdicts_keep_the_episode(self) -> None:
        """A later window with verdicts emits nothing new at the same severity."""
        r = rollup()
        r.add(verdict("O-1", T0))
        r.close(T0 + WINDOW)
        r.add(verdict("O-2", T0 + WINDOW))
        assert r.close(T0 + 2 * WINDOW) == []

    def test_resolves_after_quiet_windows(self) -> None:
        """The episode resolves after QUIET_WINDOWS windows without a verdict."""
        r = rollup()
        r.add(verdict("O-1", T0))
        fired = r.close(T0 + WINDOW)
        assert r.close(T0 + QUIET_WINDOWS * WINDOW) == []
        resolved = r.close(T0 + (QUIET_WINDOWS + 1) * WINDOW)
        assert [(e.status, e.alert_id) for e in resolved] == [("resolved", fired[0].alert_id)]

    def test_causes_are_separate_episodes(self) -> None:
        """A price too low and a quantity too high on one sku are two episodes."""
        r = rollup()
        r.add(verdict("O-1", T0))
        r.add(verdict("O-2", T0, measure="quantity", direction="up"))
        events = r.close(T0 + WINDOW)
        assert len({e.alert_id for e in events}) == 2
        assert {e.context["cause"] for e in events} == {"unit_price_down", "quantity_up"}

    def test_escalates(self) -> None:
        """A critical verdict escalates a warning episode (same alert id)."""
        r = rollup()
        r.add(verdict("O-1", T0, severity="warning"))
        first = r.close(T0 + WINDOW)
        r.add(verdict("O-2", T0 + WINDOW))
        second = r.close(T0 + 2 * WINDOW)
        assert [(e.severity, e.alert_id) for e in second] == [("critical", first[0].alert_id)]

    def test_late_verdict_is_counted_not_used(self) -> None:
        """A verdict for a closed window is counted as late."""
        r = rollup()
        r.add(verdict("O-1", T0))
        r.close(T0 + WINDOW)
        r.add(verdict("O-0", T0 + 5))
        assert r.late == 1

    def test_order_list_is_bounded(self) -> None:
        """At most MAX_ORDERS order ids are kept; all are counted."""
        r = rollup()
        for i in range(MAX_ORDERS + 30):
            r.add(verdict(f"O-{i:04d}", T0 + i))
        event = r.close(T0 + WINDOW)[0]
        assert len(event.context["orders"]) == MAX_ORDERS
        assert event.context["order_count"] == MAX_ORDERS + 30

    def test_snapshot_round_trip(self) -> None:
        """A restored roll-up continues exactly where the original was."""
        r = rollup()
        r.add(verdict("O-1", T0))
        r.close(T0 + WINDOW)
        r.add(verdict("O-2", T0 + WINDOW + 1))
        copy = rollup()
        copy.load(json.loads(json.dumps(r.to_dict())))
        end = T0 + (QUIET_WINDOWS + 3) * WINDOW
        assert copy.close(end) == r.close(end)


class TestLearnedCarrierRate:
    """Lost parcels per carrier: a window opens an episode only when its count is
    improbable under the carrier's usual count per window (``learn_rate``)."""

    @staticmethod
    def lost(order: str, ts: int) -> EventAlert:
        decision = Decision(
            40.0, 20.0, None, 38.0, 1.0, 0.5, None, True, True, "up", "info", True, "fire"
        )
        return EventAlert(
            "orders/0",
            "lost_parcel",
            "order",
            order,
            ts,
            decision,
            {"measure": "transit", "carrier": "ACME"},
        )

    def run(self, per_window: list[int]) -> list[tuple[int, str, str | None]]:
        r = SkuRollup("lost_parcel", WINDOW, AlertTexts(), "carrier", 3, learn_rate=True)
        out = []
        for w, count in enumerate(per_window):
            for i in range(count):
                r.add(self.lost(f"O-{w}-{i}", T0 + w * WINDOW + i))
            out += [(w, e.status, e.severity) for e in r.close(T0 + (w + 1) * WINDOW)]
        return out

    def test_a_carrier_that_always_loses_a_few_does_not_page(self) -> None:
        """Three or four lost parcels in a window are usual for this carrier (about three
        a window): after the warm-up (below rollup_min) they open nothing; a wave of 15
        pages, at warning."""
        usual = [2] * RATE_WARM + [3, 2, 4, 3, 3, 4, 2, 3, 3, 4] * 3
        assert self.run(usual) == []
        assert self.run([*usual, 15]) == [(len(usual), "firing", "warning")]

    def test_quiet_windows_lower_the_usual_count(self) -> None:
        """Windows without any verdict count as zero: after a quiet stretch three lost
        parcels in one window are a wave again."""
        events = self.run([3, 3, 3, 3, 3, 3, 3, 3, 3] + [0] * 200 + [3])
        assert events[-1] == (209, "firing", "warning")

    def test_rates_survive_a_snapshot(self) -> None:
        r = SkuRollup("lost_parcel", WINDOW, AlertTexts(), "carrier", 3, learn_rate=True)
        for w in range(12):
            r.add(self.lost(f"O-{w}", T0 + w * WINDOW))
            r.close(T0 + (w + 1) * WINDOW)
        restored = SkuRollup("lost_parcel", WINDOW, AlertTexts(), "carrier", 3, learn_rate=True)
        restored.load(json.loads(json.dumps(r.to_dict())))
        assert restored.rates == r.rates and restored.to_dict() == r.to_dict()

    def test_a_carrier_whose_parcels_come_in_pairs_is_judged_by_their_spread(self) -> None:
        """Two trace requests in one window, then none for nine: 0.2 a window, with twice a
        Poisson count's spread. Five in a window are within that spread (a Poisson count of
        the same mean would make them a wave); six open an episode."""
        usual = [2, *[0] * 9] * 30
        assert poisson_tail(5, 0.2) < RATE_ALPHA  # what a Poisson spread would say
        assert self.run([*usual, 5]) == []
        assert self.run([*usual, 6]) == [(len(usual), "firing", "warning")]

    def test_a_carrier_first_seen_after_the_warm_up_pages_on_its_first_wave(self) -> None:
        """A carrier with no trace request in the windows closed so far has a usual count
        of 0 (and no spread): its first window of three opens an episode."""
        r = SkuRollup("lost_parcel", WINDOW, AlertTexts(), "carrier", 3, learn_rate=True)
        for w in range(RATE_WARM + 2):
            r.add(self.lost(f"O-{w}", T0 + w * WINDOW))
            r.close(T0 + (w + 1) * WINDOW)
        w = RATE_WARM + 2
        for i in range(3):
            other = self.lost(f"N-{i}", T0 + w * WINDOW + i)
            r.add(dataclasses.replace(other, context={**other.context, "carrier": "OTHER"}))
        events = r.close(T0 + (w + 1) * WINDOW)
        assert [(e.key, e.status) for e in events] == [("OTHER", "firing")]

    def test_a_snapshot_without_the_spread_restores_a_poisson_one(self) -> None:
        """Snapshots written before the spread was learned hold three fields per carrier."""
        r = SkuRollup("lost_parcel", WINDOW, AlertTexts(), "carrier", 3, learn_rate=True)
        r.load({"rates": {"ACME|transit_up": [0.4, 30.0, float(T0)]}})
        assert r.rates == {"ACME|transit_up": [0.4, 30.0, float(T0), 0.4]}

    def test_poisson_tail_matches_the_complement_of_the_cdf(self) -> None:
        import math

        cdf = sum(math.exp(-4.0) * 4.0**k / math.factorial(k) for k in range(7))
        assert abs(poisson_tail(7, 4.0) - (1 - cdf)) < 1e-12


@pytest.mark.parametrize("learned", [0.0, 1.0, 5.0, 79.0, 80.0, 81.0, 500.0])
@pytest.mark.parametrize("skipped", [0, 1, 3, 79, 80, 400, 50_000])
def test_decay_over_empty_windows_is_the_step_by_step_decay(learned: float, skipped: int) -> None:
    """The closed form equals applying the learning step once per empty window."""
    usual, seen = 1.0, learned
    for _ in range(skipped):
        seen += 1
        usual -= max(RATE_GAIN, 1.0 / seen) * usual
    assert decay_over_empty_windows(learned, skipped) == pytest.approx(usual, rel=1e-9, abs=1e-300)
