"""A series whose window lies wholly in one compound cell under it (carrier PostNL, all
delivered in EU-West) defers to that cell: one episode, not two for the same events."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.validation import decode_event
from streams.dev.simulator.timefmt import format_ts
from streams.pipeline.aggregate import (
    Partial,
    SealedPartial,
    SourceAggregator,
    cell_links,
    is_twin,
)
from streams.pipeline.replay import ReplayPipeline
from streams.pipeline.wire import decode, pack_partials
from streams.rules.catalogue import RuleSet, parse_rules

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000
MIN = 60_000
DIMENSIONS = ["carrier", "region", "region,carrier"]


def late_rules(dimensions: list[str] = DIMENSIONS) -> RuleSet:
    """late_delivery_share over one-hour windows that may alert after a day."""
    return parse_rules(
        {
            "settings": {"lateness": "1m"},
            "rules": {
                "late_delivery_share": {
                    "window": "1h",
                    "dimensions": dimensions,
                    "runbook": "Look at {key}.",
                    "detector": {
                        "grace_period": 12,
                        "persistence": [1, 1],
                        "min_sample_size": 5,
                        "direction": "up",
                    },
                }
            },
        }
    )


def deliveries(
    hour: int, region: str, carrier: str, n: int, late: int
) -> list[tuple[int, dict[str, Any]]]:
    """``n`` parcels of one cell delivered within ``hour``, the first ``late`` of them
    after their promised time, each shipped ten hours before."""
    out = []
    for i in range(n):
        at = T0 + hour * HOUR + (i * 59 * MIN) // n + 30_000
        order_id = f"{carrier}-{region}-{hour}-{i}"
        base = {"order_id": order_id, "carrier": carrier, "region": region}
        promised = at + (-HOUR if i < late else HOUR)
        out.append(
            (
                at - 10 * HOUR,
                {**base, "event_id": f"{order_id}:s", "ts": at - 10 * HOUR, "status": "shipped"},
            )
        )
        out.append(
            (
                at,
                {
                    **base,
                    "event_id": f"{order_id}:d",
                    "ts": at,
                    "status": "delivered",
                    "promised_at": format_ts(promised),
                },
            )
        )
    return out


def traffic(bad_hours: range) -> list[tuple[str, bytes, bytes]]:
    """Carrier ``solo`` serves only ``R1``; ``multi`` serves ``R1`` and ``R2``. In
    ``bad_hours`` most of solo's parcels are late."""
    timed = []
    for hour in range(40):
        bad = hour in bad_hours
        timed += deliveries(hour, "R1", "solo", 20, 14 if bad else hour % 2)
        timed += deliveries(hour, "R1", "multi", 10, hour % 2)
        timed += deliveries(hour, "R2", "multi", 10, (hour + 1) % 2)
    timed.sort(key=lambda pair: pair[0])
    return [("orders", v["order_id"].encode(), json.dumps(v).encode()) for _, v in timed]


def firing(
    pipeline: ReplayPipeline, records: list[tuple[str, bytes, bytes]]
) -> set[tuple[str, str]]:
    return {(a.dimension, a.key) for a in pipeline.run(records) if a.status == "firing"}


class TestCellLinks:
    def test_compound_dimension_lies_under_its_parts(self) -> None:
        (rule,) = late_rules().rules
        assert cell_links(rule) == {"region,carrier": ((0, "region"), (1, "carrier"))}

    def test_no_links_without_the_single_dimensions(self) -> None:
        (rule,) = late_rules(["region,carrier"]).rules
        assert cell_links(rule) == {}


def sealed_parents(
    records: list[tuple[str, bytes, bytes]], source: str
) -> dict[tuple[str, str], Partial]:
    """One source's sealed partials of the first hour, by (dimension, key)."""
    agg = SourceAggregator(source, "orders", late_rules())
    for offset, (topic, _, value) in enumerate(records):
        agg.add(decode_event(topic, value), offset)
    end = {"event_id": "end", "ts": T0 + 3 * HOUR, "order_id": "end", "status": "paid"}
    agg.add(decode_event("orders", json.dumps(end).encode()), len(records))
    return {(s.dimension, s.key): s.partial for s in agg.seal() if s.window_start_ms == T0}


def hour_records(cells: list[tuple[str, str, int]]) -> list[tuple[str, bytes, bytes]]:
    timed = [pair for region, carrier, n in cells for pair in deliveries(0, region, carrier, n, 1)]
    timed.sort(key=lambda pair: pair[0])
    return [("orders", v["order_id"].encode(), json.dumps(v).encode()) for _, v in timed]


class TestCellsOfASource:
    def test_parents_carry_their_cells_denominators(self) -> None:
        partials = sealed_parents(
            hour_records([("R1", "solo", 6), ("R1", "multi", 3), ("R2", "multi", 4)]), "orders/0"
        )
        assert partials[("carrier", "solo")].cells == {"R1,solo": 6.0}
        assert partials[("carrier", "multi")].cells == {"R1,multi": 3.0, "R2,multi": 4.0}
        assert partials[("region", "R1")].cells == {"R1,solo": 6.0, "R1,multi": 3.0}
        assert partials[("region,carrier", "R1,solo")].cells is None
        assert is_twin(partials[("carrier", "solo")])
        assert is_twin(partials[("region", "R2")])  # R2 is served by multi alone
        assert not is_twin(partials[("carrier", "multi")])
        assert not is_twin(partials[("region", "R1")])

    def test_sources_that_each_saw_one_cell_are_no_twin_together(self) -> None:
        """Each source saw carrier multi in one region only; the window held two."""
        first = sealed_parents(hour_records([("R1", "multi", 5)]), "orders/0")
        second = sealed_parents(hour_records([("R2", "multi", 5)]), "orders/1")
        assert is_twin(first[("carrier", "multi")]) and is_twin(second[("carrier", "multi")])
        merged = Partial()
        merged.merge(first[("carrier", "multi")])
        merged.merge(second[("carrier", "multi")])
        assert merged.den == 10.0 and not is_twin(merged)

    def test_cells_cross_the_wire(self) -> None:
        partials = sealed_parents(hour_records([("R1", "solo", 6)]), "orders/0")
        solo = partials[("carrier", "solo")]
        sealed = SealedPartial(
            "orders/0", "late_delivery_share", "carrier", "solo", T0, T0 + HOUR, solo
        )
        [(_, record)] = list(pack_partials([sealed], 1))
        [back] = decode(record)
        assert back.partial.cells == {"R1,solo": 6.0}


class TestReplay:
    def test_one_episode_for_a_carrier_that_serves_one_region(self) -> None:
        """solo's late wave pages once, on its cell; without the cell, on the carrier."""
        records = traffic(range(30, 33))
        pipeline = ReplayPipeline(late_rules(), partitions=2)
        fired = firing(pipeline, records)
        assert ("region,carrier", "R1,solo") in fired
        assert ("carrier", "solo") not in fired
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry)
        metrics.add_twin_deferred(pipeline.closer.drain_twins())
        deferred = registry.get_sample_value(
            "aftersales_twin_deferred_total", {"rule": "late_delivery_share"}
        )
        assert deferred is not None and deferred >= 1
        assert pipeline.closer.drain_twins() == {}  # drained
        alone = firing(ReplayPipeline(late_rules(["carrier"]), partitions=2), records)
        assert ("carrier", "solo") in alone

    def test_steady_traffic_is_quiet(self) -> None:
        assert firing(ReplayPipeline(late_rules(), partitions=2), traffic(range(0))) == set()
