"""Lag-aware rates: returns attributed to their delivery, cancellations to their placement
(``streams.pipeline.cohorts``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from streams.contract.events import OrderEvent
from streams.exceptions import ConfigError
from streams.pipeline.aggregate import SealedPartial, SourceAggregator
from streams.pipeline.cohorts import MAX_SPLIT_KEYS, CohortMemory
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday


def rules(**table: Any) -> RuleSet:
    return parse_rules(
        {
            "settings": {"lateness": "5m"},
            "rules": {
                "return_rate": {
                    "window": "1d",
                    "hop": "6h",
                    "dimensions": ["sku", "region,carrier"],
                    "cohort": "3d",
                    **table,
                }
            },
        }
    )


def event(order: str, status: str, ts_ms: int, sku: str = "S1") -> OrderEvent:
    return OrderEvent(
        event_id=f"{order}:{status}",
        ts_ms=ts_ms,
        order_id=order,
        status=status,
        sku=sku,
        region="north",
        carrier="SF",
    )


def run(agg: SourceAggregator, events: list[OrderEvent]) -> list[SealedPartial]:
    out: list[SealedPartial] = []
    for offset, e in enumerate(events):
        agg.add(e, offset)
        out.extend(agg.seal())
    return out


def steady(
    days: int,
    per_day: int = 40,
    returns: float = 0.25,
    seed: int = 0,
    spike_from: int | None = None,
) -> list[OrderEvent]:
    """Deliveries of sku S1 (daytime), each returned with ``returns`` after 1 + Gamma(2,
    1.5) days; from ``spike_from`` on, 15 pp more, all within 1-3 days (a sizing error)."""
    rng = np.random.default_rng(seed)
    events: list[tuple[int, OrderEvent]] = []
    for day in range(days):
        for i in range(per_day):
            t = T0 + day * DAY + int((8 + 12 * rng.random()) * HOUR)
            oid = f"o{day}-{i}"
            events.append((t, event(oid, "delivered", t)))
            spiked = spike_from is not None and day >= spike_from
            u = rng.random()
            if u < returns + (0.15 if spiked else 0.0):
                lag = rng.uniform(1, 3) if spiked else 1 + rng.gamma(2.0, 1.5)
                events.append(
                    (t + int(lag * DAY), event(oid, "return_requested", t + int(lag * DAY)))
                )
    return [e for _, e in sorted(events, key=lambda x: (x[0], x[1].event_id))]


class TestCohortMemory:
    def test_only_early_returns_of_known_deliveries_count(self) -> None:
        memory = CohortMemory(3 * DAY, 6 * HOUR, ("sku",))
        memory.remember("o1", T0, [("sku", "S1")])
        assert memory.age("o1", T0 + DAY) == DAY
        assert memory.age("o1", T0 + 3 * DAY + 1) is None, "a late return counted"
        assert memory.age("o2", T0 + DAY) is None, "a return of an unseen delivery counted"
        assert memory.age("o1", T0 - 1) is None

    def test_exposure_of_a_delivery_sums_to_the_windows_it_lies_in(self) -> None:
        """Over the overlapping daily windows every 6 h, one delivery's exposure adds up to
        4 (it counts in four windows, as a delivery counted directly would)."""
        memory = CohortMemory(3 * DAY, 6 * HOUR, ("sku",))
        memory.remember("o1", T0 + 5 * HOUR, [("sku", "S1")])
        total = sum(
            memory.exposure(s, s + DAY).get(("sku", "S1"), 0.0)
            for s in range(T0 - DAY, T0 + 5 * DAY, 6 * HOUR)
        )
        assert total == pytest.approx(4.0)

    def test_learned_delay_moves_exposure_to_where_returns_come(self) -> None:
        memory = CohortMemory(3 * DAY, 6 * HOUR, ("sku",))
        memory.remember("o1", T0, [("sku", "S1")])
        for i in range(40):  # every return two days after delivery, in windows before T0
            pane = T0 - 10 * DAY + i * 6 * HOUR
            memory.note(pane, 2 * DAY + HOUR)
            memory.sealed(pane)
        day2 = memory.exposure(T0 + 2 * DAY, T0 + 3 * DAY)[("sku", "S1")]
        day0 = memory.exposure(T0, T0 + DAY)[("sku", "S1")]
        assert day2 > 0.8 and day0 < 0.1

    def test_forgets_what_no_window_can_need(self) -> None:
        memory = CohortMemory(3 * DAY, 6 * HOUR, ("sku",))
        memory.remember("old", T0, [("sku", "S1")])
        memory.remember("new", T0 + 2 * DAY, [("sku", "S1")])
        memory.sealed(T0 + 3 * DAY + 1)
        assert set(memory.delivered) == {"new"} and len(memory) == 1

    def test_round_trips_through_bytes(self) -> None:
        memory = CohortMemory(3 * DAY, 6 * HOUR, ("sku", "region,carrier"))
        memory.remember("o1", T0, [("sku", "S1"), ("region,carrier", "north,SF")])
        memory.remember("o2", T0 + HOUR, [("sku", "S2")])
        memory.note(T0, DAY)
        memory.sealed(T0 - DAY)
        copy = CohortMemory(3 * DAY, 6 * HOUR, ("sku", "region,carrier"))
        copy.load(memory.to_bytes())
        assert copy.delivered == memory.delivered
        assert copy.exposure(T0, T0 + DAY) == memory.exposure(T0, T0 + DAY)
        assert copy.to_bytes() == memory.to_bytes()
        other = CohortMemory(3 * DAY, 6 * HOUR, ("sku",))
        other.load(memory.to_bytes())  # other dimensions: starts empty
        assert len(other) == 0


class TestSplitDelays:
    """Keys of a ``split`` dimension (``cancellation_rate``'s reasons) learn their own
    delay, and each gets the exposure of every anchor under it."""

    @staticmethod
    def memory() -> CohortMemory:
        memory = CohortMemory(DAY, HOUR, ("channel", "reason"), split="reason")
        placed = [("channel", "app"), ("reason", "__denominator__")]
        for i in range(20):
            memory.remember(f"o{i}", T0 + i * HOUR // 20, placed)
        for i in range(40):  # payments fail within the hour, minds change 10 h later
            pane = T0 - 5 * DAY + i * HOUR
            memory.note(pane, 20 * 60_000, [("channel", "app"), ("reason", "payment_failed")])
            memory.note(pane, 10 * HOUR, [("channel", "app"), ("reason", "customer_request")])
            memory.sealed(pane)
        return memory

    def test_each_key_is_exposed_where_its_events_come(self) -> None:
        memory = self.memory()
        first = memory.exposure(T0, T0 + 2 * HOUR)
        later = memory.exposure(T0 + 10 * HOUR, T0 + 12 * HOUR)
        # 20 anchors; each delay keeps some of its prior (a uniform delay) after 40 windows.
        quick, slow = ("reason", "payment_failed"), ("reason", "customer_request")
        assert first[quick] > 12 and later[quick] < 2
        assert first[slow] < 2 and later[slow] > 12
        # The mixed delay: about half of the anchors in each.
        assert 5 < first[("channel", "app")] < 12 and 5 < later[("channel", "app")] < 12

    def test_split_delays_round_trip_through_bytes(self) -> None:
        memory = self.memory()
        copy = CohortMemory(DAY, HOUR, ("channel", "reason"), split="reason")
        copy.load(memory.to_bytes())
        assert copy.exposure(T0, T0 + 2 * HOUR) == memory.exposure(T0, T0 + 2 * HOUR)
        assert copy.to_bytes() == memory.to_bytes()

    def test_keys_beyond_the_cap_share_the_rules_delay(self) -> None:
        memory = CohortMemory(DAY, HOUR, ("reason",), split="reason")
        memory.remember("o1", T0, [("reason", "__denominator__")])
        for i in range(MAX_SPLIT_KEYS + 10):
            memory.note(T0 - DAY, HOUR, [("reason", f"r{i}")])
        memory.sealed(T0 - DAY)
        assert len(memory.split_hists) == MAX_SPLIT_KEYS


class TestLagAwareReturnRate:
    def test_numerator_counts_early_returns_and_denominator_is_exposure(self) -> None:
        agg = SourceAggregator("orders/0", "orders", rules())
        events = [
            event("a", "delivered", T0 + 10 * HOUR),
            event("b", "delivered", T0 + 11 * HOUR),
            event("a", "return_requested", T0 + DAY + 12 * HOUR),  # early
            event("z", "return_requested", T0 + DAY + 13 * HOUR),  # unknown delivery
            event("b", "return_requested", T0 + 5 * DAY),  # late: after 3 days
            event("c", "delivered", T0 + 8 * DAY),
        ]
        sealed = run(agg, events)
        num = sum(p.partial.num for p in sealed if p.dimension == "sku")
        assert num == 4.0, "the early return counts in its four windows, no other return"
        den = sum(p.partial.den for p in sealed if p.dimension == "sku")
        # Two deliveries, each exposed over four windows; not exactly 8, as the delay learns
        # from the early return while the deliveries' exposure is being spent.
        assert den == pytest.approx(8.0, rel=0.1)

    def test_sizing_error_stands_out_against_its_exposure(self) -> None:
        """Early returns per exposure: steady before, clearly up once returns come fast."""
        agg = SourceAggregator("orders/0", "orders", rules())
        sealed = run(agg, steady(20, per_day=100, spike_from=14))
        rate = {
            p.window_end_ms: p.partial.num / p.partial.den
            for p in sealed
            if p.dimension == "sku" and p.partial.den > 0
        }
        before = [r for end, r in rate.items() if T0 + 5 * DAY <= end <= T0 + 14 * DAY]
        after = [r for end, r in rate.items() if T0 + 16 * DAY <= end <= T0 + 18 * DAY]
        # About 0.25 x 38 % of deliveries return within 3 days; with the error, 40 % do.
        assert np.median(after) > 2.5 * np.median(before), (before, after)
        assert 0.06 < np.median(before) < 0.14

    def test_partials_do_not_depend_on_when_seal_is_called(self) -> None:
        """A worker seals per fetched batch, ``replay`` per line: the same partials, to the
        bit (which empty windows past the deliveries get sealed differs)."""
        events = steady(12, per_day=30, seed=5)
        # A quiet stretch with a lone event far ahead: many windows past every delivery.
        events.append(event("late", "placed", T0 + 30 * DAY))
        every = run(SourceAggregator("orders/0", "orders", rules()), events)
        batched: list[SealedPartial] = []
        agg = SourceAggregator("orders/0", "orders", rules())
        for offset, e in enumerate(events):
            agg.add(e, offset)
            if offset % 997 == 0:
                batched.extend(agg.seal())
        batched.extend(agg.seal())
        assert [(p.series, p.window_start_ms, p.partial.num, p.partial.den) for p in every] == [
            (p.series, p.window_start_ms, p.partial.num, p.partial.den) for p in batched
        ]

    def test_snapshot_restart_seals_the_same_partials(self) -> None:
        """Cut anywhere, snapshot, restore into a fresh aggregator and re-read from the
        offset it names: the partials sealed after the cut are the uninterrupted run's."""
        events = steady(8, per_day=30, seed=3)
        whole = run(SourceAggregator("orders/0", "orders", rules()), events)
        for cut in (len(events) // 3, 2 * len(events) // 3):
            first = SourceAggregator("orders/0", "orders", rules())
            before = run(first, events[:cut])
            fresh = SourceAggregator("orders/0", "orders", rules())
            resume = fresh.restore(first.snapshot(cut))
            after = run(fresh, events[resume:])
            seen = {(p.window_start_ms, p.dimension, p.key) for p in before}
            rest = [p for p in after if (p.window_start_ms, p.dimension, p.key) not in seen]
            assert [
                (p.series, p.window_start_ms, p.partial.num, round(p.partial.den, 9))
                for p in before + rest
            ] == [
                (p.series, p.window_start_ms, p.partial.num, round(p.partial.den, 9)) for p in whole
            ]


class TestConfig:
    def test_cohort_only_on_return_rate(self) -> None:
        with pytest.raises(ConfigError) as err:
            parse_rules({"rules": {"complaint_rate": {"window": "1d", "cohort": "3d"}}})
        assert err.value.field == "rules.complaint_rate.cohort"

    def test_cohort_at_least_the_hop(self) -> None:
        with pytest.raises(ConfigError) as err:
            rules(cohort="1h")
        assert err.value.field == "rules.return_rate.cohort"


class TestFaintKeys:
    """A SKU seen once (one delivery, no return: a key flood's junk) gets no series, or
    loses it after ``idle_ttl``, instead of being held for its whole cohort; a SKU that
    sells keeps its series."""

    @staticmethod
    def records(events: list[OrderEvent]) -> list[tuple[str, bytes, bytes]]:
        out = []
        for e in events:
            value = {
                "event_id": e.event_id,
                "ts": e.ts_ms,
                "order_id": e.order_id,
                "status": e.status,
                "sku": e.sku,
                "region": "north",
                "carrier": "SF",
            }
            out.append(("orders", e.order_id.encode(), json.dumps(value).encode()))
        return out

    def test_one_delivery_is_not_held_for_the_cohort(self) -> None:
        junk = T0 + 4 * DAY + 12 * HOUR
        events = steady(6, per_day=60, returns=0.0)
        events += [event(f"j{i}", "delivered", junk + i, sku=f"J{i}") for i in range(5)]
        events += [event("r", "delivered", junk, sku="R")]
        events += [event("r", "return_requested", junk + 6 * HOUR, sku="R")]
        events.sort(key=lambda e: (e.ts_ms, e.event_id))
        pipeline = ReplayPipeline(rules(idle_ttl="12h"), partitions=1)
        judged: set[str] = set()
        pipeline.closer.on_closed = lambda closed: judged.add(closed.key)
        list(pipeline.run(self.records(events)))
        # Without the faint rule, J0-J4 each get a series, judged for 3 days of exposure.
        assert judged == {"S1", "R", "north,SF"}
