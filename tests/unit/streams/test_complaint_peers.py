"""``relative_to = "peers"`` on ``complaint_rate``: a complaint wave shared by every SKU and
cell (a Sunday's few deliveries against the complaints about the busier days before) is
judged away, a SKU breaking away from it still fires, and the rule's SKUs spread over
the closers (each judged against the SKUs on its own) while its other dimensions share
one closer."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from alerts.model import AlertEvent
from streams.contract.events import TOPICS
from streams.pipeline.closer import WindowCloser
from streams.pipeline.replay import ReplayPipeline
from streams.pipeline.wire import COLOCATED, closer_partition
from streams.rules.builtin import complaint_rate
from streams.rules.catalogue import RuleSet
from streams.runtime.backfill import BackfillPipeline, Layout
from tests.unit.streams.test_set_apart import complaint_about, complaint_rules

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
HOUR = 3_600_000
SKUS = [f"S{i:02d}" for i in range(32)]
CELLS = [("R1", "A"), ("R1", "B"), ("R2", "A"), ("R2", "B")]
PER_SKU = 20
PARTITIONS = 4


def rules(relative_to: str | None) -> RuleSet:
    """complaint_rate over one-hour windows by SKU and cell, alerting after 12 h."""
    extra: dict[str, Any] = {"dimensions": ["sku", "region,carrier"]}
    if relative_to is not None:
        extra["relative_to"] = relative_to
    return complaint_rules(**extra)


def traffic(
    wave_hours: range = range(0), wave: int = 0, breakaway: dict[str, int] | None = None
) -> list[tuple[str, bytes, bytes]]:
    """36 hours of 20 deliveries per SKU and hour over the four cells, one or two of them
    drawing a complaint ten minutes later; in ``wave_hours`` every SKU draws ``wave``
    complaints, except the SKUs of ``breakaway`` (SKU -> complaints)."""
    timed: list[tuple[int, str, dict[str, Any]]] = []
    for hour in range(36):
        for s, sku in enumerate(SKUS):
            bad = 1 + (hour + s) % 2
            if hour in wave_hours:
                bad = (breakaway or {}).get(sku, wave)
            for i in range(PER_SKU):
                region, carrier = CELLS[i % len(CELLS)]
                at = T0 + hour * HOUR + i * 150_000 + s * 1000
                oid = f"o-{hour}-{sku}-{i}"
                attrs = {"sku": sku, "region": region, "carrier": carrier}
                delivered = {"event_id": f"{oid}:d", "ts": at, "order_id": oid}
                timed.append((at, "orders", {**delivered, **attrs, "status": "delivered"}))
                if i < bad:
                    timed.append((at + 600_000, "complaints", complaint_about(oid, at, attrs)))
    timed.sort(key=lambda item: item[0])
    return [(topic, v["event_id"].encode(), json.dumps(v).encode()) for _, topic, v in timed]


def firing(alerts: list[AlertEvent]) -> set[str]:
    return {f"{a.dimension}={a.key}" for a in alerts if a.status == "firing"}


def one_closer(relative_to: str | None, records: list[tuple[str, bytes, bytes]]) -> set[str]:
    return firing(list(ReplayPipeline(rules(relative_to), partitions=2).run(records)))


def four_closers(
    records: list[tuple[str, bytes, bytes]],
) -> tuple[set[str], list[WindowCloser]]:
    """Four closers each fed the partials of its partition, as four workers' closers are
    by Kafka (the backfill's routing)."""
    layout = Layout(dict.fromkeys(TOPICS, PARTITIONS), list(range(PARTITIONS)))
    pipeline = BackfillPipeline(rules("peers"), layout, max_future_ms=None, risk=False)
    return firing(pipeline.run(records)), pipeline.closers


WAVE = range(24, 30)
CELL_KEYS = {f"region,carrier={r},{c}" for r, c in CELLS}


class TestRouting:
    def test_skus_spread_and_the_other_dimensions_share_one_closer(self) -> None:
        assert COLOCATED["complaint_rate"] == {"sku"}
        skus = {closer_partition(f"complaint_rate:sku:{sku}", PARTITIONS) for sku in SKUS}
        assert len(skus) == PARTITIONS
        home = closer_partition("complaint_rate", PARTITIONS)
        for dimension, key in [("region,carrier", "R1,A"), ("category", "toys"), ("carrier", "B")]:
            assert closer_partition(f"complaint_rate:{dimension}:{key}", PARTITIONS) == home

    def test_spread_is_checked_where_the_rule_is_defined(self) -> None:
        with pytest.raises(ValueError, match="spread is for colocated rules"):
            dataclasses.replace(complaint_rate.RULE, colocated=False)
        with pytest.raises(ValueError, match=r"\['queue'\] are not among its dimensions"):
            dataclasses.replace(complaint_rate.RULE, spread=frozenset({"queue"}))


class TestOneCloser:
    def test_steady_traffic_is_quiet(self) -> None:
        assert one_closer("peers", traffic()) == set()

    def test_a_shared_wave_is_judged_away(self) -> None:
        """Every SKU at 30 % complaints for six hours: judged alone, every SKU and cell
        fires; against their peers, none does."""
        records = traffic(WAVE, wave=6)
        alone = one_closer(None, records)
        assert {f"sku={sku}" for sku in SKUS} | CELL_KEYS <= alone
        assert one_closer("peers", records) == set()

    def test_a_sku_breaking_away_from_the_wave_fires(self) -> None:
        records = traffic(WAVE, wave=6, breakaway={"S07": 16})
        assert one_closer("peers", records) == {"sku=S07"}


class TestFourClosers:
    def test_each_closer_judges_its_skus_against_each_other(self) -> None:
        """The SKUs on four closers, the cells on one: the wave is judged away on every
        closer, and the SKU that breaks away fires on its own."""
        fired, closers = four_closers(traffic(WAVE, wave=6, breakaway={"S07": 16}))
        assert fired == {"sku=S07"}
        held = [set(closer.banks["complaint_rate"].ids) for closer in closers]
        home = closer_partition("complaint_rate", PARTITIONS)
        assert {f"complaint_rate:region,carrier:{r},{c}" for r, c in CELLS} <= held[home]
        assert all(sum(sid.startswith("complaint_rate:sku:") for sid in ids) >= 4 for ids in held)
