"""Event stream properties: determinism, ordering, contract validity, lifecycles."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from datetime import timedelta

import pytest

from streams.dev.simulator import Event, Simulation, SimulationConfig, write_events
from streams.dev.simulator.schedule import CalendarQueue
from streams.dev.simulator.timefmt import parse_ts
from tests.unit.simulator.sim_helpers import contract_errors

LIFECYCLE_RANK = {
    "placed": 0,
    "paid": 1,
    "cancelled": 2,
    "shipped": 2,
    "delivered": 3,
    "return_requested": 4,
    "exchange_requested": 4,
    "returned": 5,
    "refunded": 6,
}
ORDER_FIELDS = (
    "sku",
    "category",
    "region",
    "carrier",
    "channel",
    "customer_id",
    "address_id",
    "quantity",
    "amount",
)


@pytest.fixture(scope="module")
def events(small_config: SimulationConfig) -> list[Event]:
    """The two-day, all-incidents run."""
    return list(Simulation(small_config).events())


def _bytes(config: SimulationConfig) -> bytes:
    out = io.StringIO()
    write_events(Simulation(config).events(), out)
    return out.getvalue().encode()


class TestDeterminism:
    def test_same_seed_same_bytes(self, small_config: SimulationConfig) -> None:
        """Two runs of one configuration write identical bytes."""
        assert _bytes(small_config) == _bytes(small_config)

    def test_other_seed_other_bytes(self) -> None:
        """A different seed gives different traffic."""
        base = SimulationConfig(
            duration=timedelta(hours=3), orders_per_day=2_000, warmup=timedelta(0)
        )
        other = SimulationConfig(
            seed=1, duration=timedelta(hours=3), orders_per_day=2_000, warmup=timedelta(0)
        )
        assert _bytes(base) != _bytes(other)

    def test_second_pass_repeats_the_first(self, small_config: SimulationConfig) -> None:
        """Iterating one Simulation twice yields the same events."""
        sim = Simulation(small_config)
        first = [e.value["event_id"] for e in sim.events()]
        assert first == [e.value["event_id"] for e in sim.events()]


class TestOrdering:
    def test_event_time_ascending(self, events: list[Event]) -> None:
        """Events come out in non-decreasing event time."""
        assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(events))

    def test_ts_field_matches_ts_ms(self, events: list[Event]) -> None:
        """Each value's RFC 3339 ts is the record's ts_ms."""
        assert all(parse_ts(e.value["ts"]) == e.ts_ms for e in events[::97])

    def test_within_configured_range(
        self, events: list[Event], small_config: SimulationConfig
    ) -> None:
        """Nothing is emitted before start or at/after the end."""
        assert events[0].ts_ms >= small_config.start_ms
        assert events[-1].ts_ms < small_config.end_ms


class TestContract:
    def test_every_event_is_valid(self, events: list[Event]) -> None:
        """Every value passes the contract checker for its topic."""
        bad = [
            (e.topic, e.value, errs) for e in events if (errs := contract_errors(e.topic, e.value))
        ]
        assert bad == []

    def test_event_ids_are_unique(self, events: list[Event]) -> None:
        """No two events share an event_id."""
        ids = [e.value["event_id"] for e in events]
        assert len(set(ids)) == len(ids)

    def test_keys_are_the_contract_ids(self, events: list[Event]) -> None:
        """The key is order_id, complaint_id, ticket_id or review_id by topic."""
        id_field = {
            "orders": "order_id",
            "complaints": "complaint_id",
            "wait-times": "ticket_id",
            "reviews": "review_id",
        }
        assert all(e.key == e.value[id_field[e.topic]] for e in events)

    def test_all_topics_present(self, events: list[Event]) -> None:
        """The run produces orders, complaints, wait-times and reviews."""
        assert {e.topic for e in events} == {"orders", "complaints", "wait-times", "reviews"}


class TestLifecycle:
    def test_statuses_in_lifecycle_order(self, events: list[Event]) -> None:
        """Per order_id, statuses never go backwards in the lifecycle."""
        seen: dict[str, int] = {}
        for e in events:
            if e.topic == "orders":
                rank = LIFECYCLE_RANK[e.value["status"]]
                assert rank >= seen.get(e.key, -1), e.value
                seen[e.key] = rank

    def test_each_status_once_per_order(self, events: list[Event]) -> None:
        """An order never repeats a status."""
        statuses: defaultdict[str, list[str]] = defaultdict(list)
        for e in events:
            if e.topic == "orders":
                statuses[e.key].append(e.value["status"])
        assert all(len(s) == len(set(s)) for s in statuses.values())

    def test_cancelled_orders_are_not_shipped(self, events: list[Event]) -> None:
        """A cancelled order never ships."""
        by_order: defaultdict[str, set[str]] = defaultdict(set)
        for e in events:
            if e.topic == "orders":
                by_order[e.key].add(e.value["status"])
        assert not [k for k, s in by_order.items() if "cancelled" in s and "shipped" in s]

    @pytest.mark.parametrize("status", ["placed", "delivered", "return_requested"])
    def test_order_events_carry_dimensions(self, events: list[Event], status: str) -> None:
        """Order events carry sku, category, region, carrier, channel, customer, amount..."""
        chosen = [e.value for e in events if e.value.get("status") == status]
        assert chosen
        assert all(all(v.get(f) is not None for f in ORDER_FIELDS) for v in chosen)

    def test_returns_and_cancels_have_reasons(self, events: list[Event]) -> None:
        """Return, exchange and cancel events say why."""
        why = ("cancelled", "return_requested", "exchange_requested")
        assert all(e.value.get("reason") for e in events if e.value.get("status") in why)

    def test_complaints_reference_orders(self, events: list[Event]) -> None:
        """Complaints carry the order's id, dimensions, a reason and a severity."""
        complaints = [e.value for e in events if e.topic == "complaints"]
        assert complaints
        assert all(
            c["order_id"].startswith("O-") and c["reason"] and c["severity"] in (1, 2, 3)
            for c in complaints
        )


class TestCalendarQueue:
    def test_drains_in_order_across_buckets(self) -> None:
        """Items pushed in any order drain sorted by (ts, seq)."""
        queue = CalendarQueue(bucket_ms=100)
        items = [(ts, i) for i, ts in enumerate([950, 5, 420, 5, 130, 99, 100])]
        for item in items:
            queue.push(item)
        assert list(queue.pop_before(1_000)) == sorted(items)

    def test_keeps_items_at_or_after_the_bound(self) -> None:
        """Items at or after the bound stay queued for the next drain."""
        queue = CalendarQueue(bucket_ms=100)
        for item in [(150, 0), (160, 1), (140, 2)]:
            queue.push(item)
        assert list(queue.pop_before(150)) == [(140, 2)]
        assert list(queue.pop_before(200)) == [(150, 0), (160, 1)]
        assert len(queue) == 0
