"""A category whose window's excess lies in one region x carrier cell is judged without
that cell (``set_apart``): the cell pages for its own problem, the category does not page
for it, and a rise spread over the cells still pages on the category."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.validation import decode_event
from streams.pipeline.aggregate import Partial, SealedPartial, SourceAggregator
from streams.pipeline.cohorts import CohortMemory
from streams.pipeline.replay import ReplayPipeline
from streams.pipeline.set_apart import set_apart
from streams.pipeline.wire import decode, pack_partials
from streams.rules.catalogue import ConfigError, RuleSet, load_rules, parse_rules

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000
CELLS = [("R1", "A"), ("R1", "B"), ("R2", "A"), ("R2", "B")]


def complaint_rules(**extra: Any) -> RuleSet:
    """complaint_rate over one-hour windows by category and cell, alerting after 12 h."""
    rule: dict[str, Any] = {
        "window": "1h",
        "dimensions": ["category", "region,carrier"],
        "runbook": "Look at {key}.",
        "detector": {
            "grace_period": 12,
            "persistence": [2, 3],
            "min_sample_size": 5,
            "direction": "up",
        },
    }
    return parse_rules(
        {"settings": {"lateness": "1m"}, "rules": {"complaint_rate": {**rule, **extra}}}
    )


def hour_of(hour: int, complaints: dict[tuple[str, str], int]) -> list[tuple[int, str, dict]]:
    """40 deliveries per cell of category ``toys`` in ``hour``; ``complaints[cell]`` of
    them (else one in 20, on alternate hours) draw a complaint ten minutes later."""
    out: list[tuple[int, str, dict]] = []
    for c, (region, carrier) in enumerate(CELLS):
        usual = 2 if (hour + c) % 2 else 1
        bad = complaints.get((region, carrier), usual)
        for i in range(40):
            at = T0 + hour * HOUR + i * 60_000 + c * 1000
            oid = f"o-{hour}-{region}-{carrier}-{i}"
            attrs = {"category": "toys", "sku": "S-1", "region": region, "carrier": carrier}
            delivered = {"event_id": f"{oid}:d", "ts": at, "order_id": oid, "status": "delivered"}
            out.append((at, "orders", {**delivered, **attrs}))
            if i < bad:
                out.append((at + 600_000, "complaints", complaint_about(oid, at, attrs)))
    return out


def complaint_about(oid: str, delivered_at: int, attrs: dict[str, Any]) -> dict[str, Any]:
    """A ``damaged`` complaint about order ``oid``, ten minutes after its delivery."""
    complaint = {
        "event_id": f"{oid}:c",
        "ts": delivered_at + 600_000,
        "complaint_id": f"c-{oid}",
        "order_id": oid,
        "reason": "damaged",
    }
    return {**complaint, **attrs}


def traffic(bad: dict[tuple[str, str], int], hours: range) -> list[tuple[str, bytes, bytes]]:
    timed = [e for h in range(36) for e in hour_of(h, bad if h in hours else {})]
    timed.sort(key=lambda item: item[0])
    return [(topic, v["event_id"].encode(), json.dumps(v).encode()) for _, topic, v in timed]


def firing(rules: RuleSet, records: list[tuple[str, bytes, bytes]]) -> set[tuple[str, str]]:
    pipeline = ReplayPipeline(rules, partitions=2)
    return {(a.dimension, a.key) for a in pipeline.run(records) if a.status == "firing"}


class TestSetApart:
    def test_cell_far_above_the_rest_is_left_out(self) -> None:
        window = Partial(25.0, 4954.0, split={"UK,DPD": [8.0, 188.0], "EU,DHL": [4.0, 573.0]})
        rest, cell = set_apart(window, 3.0)
        assert cell == "UK,DPD"
        assert (rest.num, rest.den) == (17.0, 4766.0)
        assert rest.split is None

    def test_a_rise_spread_over_the_cells_stays(self) -> None:
        split = {f"c{i}": [6.0, 100.0] for i in range(4)}
        assert set_apart(Partial(24.0, 400.0, split=split), 3.0)[1] is None

    def test_few_events_in_a_small_cell_are_no_evidence(self) -> None:
        """2 of 5 returns in a cell with 3 % of the deliveries: p = 0.009, not past z 3."""
        window = Partial(5.0, 591.0, split={"UK,UPS": [2.0, 19.0], "EU,GLS": [1.0, 21.0]})
        assert set_apart(window, 3.0)[1] is None

    def test_a_cell_holding_the_whole_series_is_the_twins_business(self) -> None:
        window = Partial(10.0, 100.0, split={"R1,A": [10.0, 100.0]})
        assert set_apart(window, 3.0)[1] is None

    def test_nothing_to_split(self) -> None:
        assert set_apart(Partial(3.0, 50.0), 3.0)[1] is None
        assert set_apart(Partial(0.0, 50.0, split={"R1,A": [0.0, 5.0]}), 3.0)[1] is None


class TestSplitPartials:
    def test_merge_copy_and_wire(self) -> None:
        a = Partial(2.0, 80.0, split={"R1,A": [2.0, 40.0], "R2,A": [0.0, 40.0]})
        b = Partial(1.0, 40.0, split={"R1,A": [1.0, 40.0]})
        merged = a.copy()
        merged.merge(b)
        assert merged.split == {"R1,A": [3.0, 80.0], "R2,A": [0.0, 40.0]}
        assert a.split == {"R1,A": [2.0, 40.0], "R2,A": [0.0, 40.0]}  # untouched
        sealed = SealedPartial("orders/0", "complaint_rate", "category", "toys", 0, HOUR, merged)
        [(_, record)] = list(pack_partials([sealed], 1))
        [back] = decode(record)
        assert back.partial.split == merged.split

    def test_a_source_splits_each_category_by_cell(self) -> None:
        agg = SourceAggregator("orders/0", "orders", complaint_rules(set_apart="region,carrier"))
        for offset, (topic, _, value) in enumerate(traffic({}, range(0))[:400]):
            if topic == "orders":
                agg.add(decode_event(topic, value), offset)
        end = {"event_id": "end", "ts": T0 + 5 * HOUR, "order_id": "end", "status": "paid"}
        agg.add(decode_event("orders", json.dumps(end).encode()), 10_000)
        first = {(s.dimension, s.key): s.partial for s in agg.seal() if s.window_start_ms == T0}
        toys = first[("category", "toys")]
        assert toys.split is not None
        assert sum(den for _, den in toys.split.values()) == toys.den
        assert first[("region,carrier", "R1,A")].split is None

    def test_lag_aware_exposure_splits_by_cell(self) -> None:
        memory = CohortMemory(3 * 86_400_000, 6 * HOUR, ("category", "region,carrier"))
        for i in range(30):
            cell = "R1,A" if i % 3 else "R2,B"
            memory.remember(
                f"o{i}", T0 + i * 60_000, [("category", "toys"), ("region,carrier", cell)]
            )
        exposure, by_cell = memory.exposure_with_cells(
            T0, T0 + 86_400_000, "region,carrier", ("category",)
        )
        assert exposure == memory.exposure(T0, T0 + 86_400_000)
        whole = exposure[("category", "toys")]
        split = by_cell[("category", "toys")]
        assert set(split) == {"R1,A", "R2,B"}
        assert sum(split.values()) == pytest.approx(whole)
        assert split["R1,A"] == pytest.approx(2 * split["R2,B"], rel=0.01)  # 20 against 10


class TestReplay:
    def test_one_bad_cell_pages_on_the_cell_not_the_category(self) -> None:
        records = traffic({("R1", "A"): 14}, range(24, 28))
        pipeline = ReplayPipeline(complaint_rules(set_apart="region,carrier"), partitions=2)
        fired = {(a.dimension, a.key) for a in pipeline.run(records) if a.status == "firing"}
        assert ("region,carrier", "R1,A") in fired
        assert ("category", "toys") not in fired
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(registry)
        metrics.add_cells_set_apart(pipeline.closer.drain_set_apart())
        windows = registry.get_sample_value(
            "aftersales_cells_set_apart_total", {"rule": "complaint_rate"}
        )
        assert windows is not None and windows >= 4  # each bad hour's window
        assert pipeline.closer.drain_set_apart() == {}  # drained
        # Without it the category pages for the cell's complaints too.
        assert ("category", "toys") in firing(complaint_rules(), records)

    def test_one_bad_cell_pages_on_the_cell_not_the_sku(self) -> None:
        # A best-selling SKU delivered in every cell: the damaged cell's returns are the
        # cell's problem, as they are in a category (set apart in both, as shipped).
        records = traffic({("R1", "A"): 14}, range(24, 28))
        rules = complaint_rules(
            dimensions=["sku", "category", "region,carrier"],
            set_apart="region,carrier",
            set_apart_in=["category", "sku"],
        )
        fired = firing(rules, records)
        assert ("region,carrier", "R1,A") in fired
        assert not fired & {("sku", "S-1"), ("category", "toys")}
        plain = complaint_rules(dimensions=["sku", "category", "region,carrier"])
        assert ("sku", "S-1") in firing(plain, records)

    def test_a_rise_in_every_cell_pages_on_the_category(self) -> None:
        bad = dict.fromkeys(CELLS, 12)
        fired = firing(complaint_rules(set_apart="region,carrier"), traffic(bad, range(24, 28)))
        assert ("category", "toys") in fired

    def test_steady_traffic_is_quiet(self) -> None:
        assert firing(complaint_rules(set_apart="region,carrier"), traffic({}, range(0))) == set()


class TestRulesFile:
    def test_shipped_return_rate_sets_cells_apart_in_categories_and_skus(self) -> None:
        (rule,) = [r for r in load_rules(None).rules if r.name == "return_rate"]
        assert rule.set_apart == "region,carrier"
        assert rule.set_apart_in == ("category", "sku")

    def test_default_is_every_dimension_but_the_cells_and_their_parts(self) -> None:
        rules = complaint_rules(
            set_apart="region,carrier", dimensions=["sku", "category", "region", "region,carrier"]
        )
        assert rules.rules[0].set_apart_in == ("sku", "category")

    @pytest.mark.parametrize(
        ("extra", "field", "says"),
        [
            ({"set_apart": "region"}, "set_apart", "compound dimension"),
            ({"set_apart": 3}, "set_apart", "compound dimension"),
            ({"set_apart_in": ["category"]}, "set_apart_in", "needs set_apart"),
            (
                {"set_apart": "region,carrier", "set_apart_in": ["region,carrier"]},
                "set_apart_in",
                "other than region,carrier",
            ),
            ({"set_apart": "region,carrier", "set_apart_in": []}, "set_apart_in", "at least"),
        ],
    )
    def test_bad_settings_name_the_field(self, extra: dict, field: str, says: str) -> None:
        with pytest.raises(ConfigError) as err:
            complaint_rules(**extra)
        assert err.value.field == f"rules.complaint_rate.{field}"
        assert says in str(err.value)

    def test_only_ratio_rules(self) -> None:
        with pytest.raises(ConfigError, match="only ratio rules"):
            parse_rules(
                {
                    "rules": {
                        "order_volume": {
                            "dimensions": ["total", "region,channel"],
                            "set_apart": "region,channel",
                        }
                    }
                }
            )
