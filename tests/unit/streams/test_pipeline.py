"""Aggregation and window closing (the pure pipeline, no Kafka)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.model import AlertEvent
from streams.aggregate import SourceAggregator
from streams.events import OrderEvent, WaitTimeEvent
from streams.validation import decode_event
from streams.pipeline import ReplayPipeline
from streams.rules import RuleSet, parse_rules

HOUR = 3_600_000
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday


def rules(**detector: Any) -> RuleSet:
    """order_volume on total and region with 1 h windows, plus a p90 rule."""
    return parse_rules({
        "settings": {"lateness": "5m"},
        "rules": {
            "order_volume": {"window": "1h", "dimensions": ["total", "region"],
                             "runbook": "Check {key}.",
                             "detector": {"grace_period": 24, "persistence": [1, 1],
                                          **detector}},
            "wait_time_p90": {"window": "1h", "dimensions": ["queue"], "runbook": "Staff {key}.",
                              "detector": {"grace_period": 3}},
        },
    })


def order(i: int, ts_ms: int, region: str = "north") -> OrderEvent:
    return OrderEvent(event_id=f"e{i}", ts_ms=ts_ms, order_id=f"o{i}", status="placed",
                      region=region)


class TestSourceAggregator:
    def test_late_event_is_refused(self) -> None:
        """An event older than progress minus lateness is late and merged nowhere."""
        agg = SourceAggregator("orders/0", "orders", rules())
        assert agg.add(order(1, T0 + HOUR), 0)[0]
        assert not agg.add(order(2, T0 + HOUR - 6 * 60_000), 1)[0]
        assert agg.add(order(3, T0 + HOUR - 4 * 60_000), 2)[0]

    def test_one_wrong_clock_does_not_move_event_time(self) -> None:
        """One event 10 h ahead (inside the future tolerance) neither seals windows nor
        makes the next correct events late; a second event past the bound confirms a
        real jump (after a quiet night, say)."""
        agg = SourceAggregator("orders/0", "orders", rules())
        agg.add(order(1, T0 + 10), 0)
        assert agg.add(order(2, T0 + 10 * HOUR), 1)[0]
        assert agg.progress_ms == T0 + 10 and agg.seal() == []
        assert agg.add(order(3, T0 + 20 * 60_000), 2)[0], "a correct event became late"
        assert agg.progress_ms == T0 + 20 * 60_000
        assert agg.add(order(4, T0 + 11 * HOUR), 3)[0]
        assert agg.progress_ms == T0 + 10 * HOUR  # the earlier of the two confirms
        assert {s.window_start_ms for s in agg.seal()} == {T0}

    def test_held_jump_survives_a_snapshot(self) -> None:
        """The held time is part of the snapshot, so a restart decides the same."""
        events = [order(1, T0 + 10), order(2, T0 + 2 * HOUR), order(3, T0 + 12 * HOUR),
                  order(4, T0 + 2 * HOUR + 60_000)]
        agg = SourceAggregator("orders/0", "orders", rules())
        for offset, event in enumerate(events):
            agg.add(event, offset)
        agg.seal()  # seals the first windows; resume starts at the oldest open one
        assert agg.ahead_ms == T0 + 12 * HOUR
        fresh = SourceAggregator("orders/0", "orders", rules())
        resume = fresh.restore(agg.snapshot(len(events)))
        for offset in range(resume, len(events)):
            fresh.add(events[offset], offset)
        assert (fresh.progress_ms, fresh.ahead_ms) == (agg.progress_ms, agg.ahead_ms)
        for target in (agg, fresh):
            target.add(order(5, T0 + 13 * HOUR), 9)
        assert fresh.progress_ms == agg.progress_ms == T0 + 12 * HOUR

    def test_window_seals_after_lateness(self) -> None:
        """A window is sealed only once progress passes its end plus the lateness."""
        agg = SourceAggregator("orders/0", "orders", rules())
        agg.add(order(1, T0 + 10), 0)
        agg.add(order(2, T0 + HOUR + 4 * 60_000), 1)
        assert agg.seal() == []
        agg.add(order(3, T0 + HOUR + 5 * 60_000), 2)
        sealed = agg.seal()
        assert {(s.dimension, s.key, s.partial.num) for s in sealed} == {("total", "all", 1.0),
                                                                          ("region", "north", 1.0)}
        assert all(s.window_start_ms == T0 for s in sealed)

    def test_commit_offset_stays_behind_open_windows(self) -> None:
        """The safe commit offset is the first offset an open window depends on."""
        agg = SourceAggregator("orders/0", "orders", rules())
        agg.add(order(1, T0 + 10), 7)
        agg.add(order(2, T0 + HOUR + 10), 8)
        assert agg.min_open_offset() == 7
        agg.add(order(3, T0 + 2 * HOUR), 9)
        agg.seal()
        assert agg.min_open_offset() == 8

    def test_missing_dimension_field_skips_that_dimension(self) -> None:
        """An event without a region still counts in the total."""
        agg = SourceAggregator("orders/0", "orders", rules())
        agg.add(OrderEvent(event_id="e", ts_ms=T0, order_id="o", status="placed"), 0)
        agg.add(order(2, T0 + 2 * HOUR), 1)
        assert {(s.dimension, s.key) for s in agg.seal()} == {("total", "all")}

    def test_percentile_partials_carry_a_sketch(self) -> None:
        """Wait times are summarised in a mergeable sketch."""
        agg = SourceAggregator("wait-times/0", "wait-times", rules())
        for i in range(10):
            agg.add(WaitTimeEvent(event_id=f"w{i}", ts_ms=T0 + i, ticket_id=f"t{i}",
                                  wait_seconds=float(i * 60), queue="returns"), i)
        agg.add(WaitTimeEvent(event_id="w", ts_ms=T0 + 2 * HOUR, ticket_id="t",
                              wait_seconds=1.0, queue="returns"), 10)
        [sealed] = agg.seal()
        assert sealed.partial.sketch is not None and sealed.partial.sketch.count == 10


def lines(counts_per_hour: list[dict[str, int]]) -> Iterator[tuple[str, bytes, bytes]]:
    """Placed orders, evenly spread within each hour, ``{region: count}`` per hour."""
    i = 0
    for hour, counts in enumerate(counts_per_hour):
        events = [(region, n) for region, counts_n in sorted(counts.items())
                  for n in range(counts_n)]
        for j, (region, _) in enumerate(events):
            ts = T0 + hour * HOUR + j * HOUR // max(len(events), 1)
            value = {"event_id": f"e{i}", "ts": ts, "order_id": f"o{i}", "status": "placed",
                     "region": region}
            i += 1
            yield "orders", f"o{i}".encode(), json.dumps(value).encode()


def run(counts_per_hour: list[dict[str, int]], **detector: Any) -> list[AlertEvent]:
    return list(ReplayPipeline(rules(**detector), partitions=2).run(lines(counts_per_hour)))


class TestWindowCloser:
    def test_drop_to_zero_fires_without_events(self) -> None:
        """A region that stops sending orders fires although nothing arrived for it."""
        steady = [{"north": 40, "south": 40}] * 30
        alerts = run([*steady, *[{"south": 40}] * 6])
        fired = [(a.rule, a.dimension, a.key, a.direction) for a in alerts
                 if a.status == "firing"]
        assert ("order_volume", "region", "north", "down") in fired

    def test_steady_traffic_is_quiet(self) -> None:
        """Steady Poisson-like counts raise nothing."""
        assert run([{"north": 40, "south": 40}] * 40) == []

    def test_episode_fires_then_resolves_with_one_id(self) -> None:
        """A spike opens an episode and its end resolves the same alert id."""
        hours = [{"north": 40}] * 30 + [{"north": 200}] * 2 + [{"north": 40}] * 8
        alerts = [a for a in run(hours) if a.dimension == "region"]
        assert [a.status for a in alerts] == ["firing", "resolved"]
        assert alerts[0].alert_id == alerts[1].alert_id
        assert alerts[0].direction == "up"

    def test_replay_is_deterministic(self) -> None:
        """Two replays of the same input give byte-identical alerts."""
        hours = [{"north": 40}] * 30 + [{"north": 200}] * 2 + [{"north": 40}] * 4
        first = [a.to_json() for a in run(hours)]
        assert first and first == [a.to_json() for a in run(hours)]

    @pytest.mark.parametrize("partitions", [1, 3, 7])
    def test_partitioning_does_not_change_alerts(self, partitions: int) -> None:
        """The alerts do not depend on how many input partitions carried the events."""
        hours = [{"north": 40, "south": 30}] * 30 + [{"north": 200}] * 2 + [{"north": 40}] * 4
        reference = [a.to_json() for a in run(hours)]
        pipeline = ReplayPipeline(rules(), partitions=partitions)
        assert [a.to_json() for a in pipeline.run(lines(hours))] == reference


class TestSnapshots:
    def _halves(self) -> tuple[list[tuple[str, bytes, bytes]], list[tuple[str, bytes, bytes]]]:
        hours = [{"north": 40, "south": 30}] * 30 + [{"north": 200}] * 3 + [{"north": 40}] * 4
        records = list(lines(hours))
        cut = len(records) * 31 // 37  # inside the spike: an episode is open
        return records[:cut], records[cut:]

    def test_closer_snapshot_round_trips(self) -> None:
        """A restored closer snapshots to the same bytes."""
        first, _ = self._halves()
        pipeline = ReplayPipeline(rules(), partitions=2)
        list(pipeline.run(first))
        restored = ReplayPipeline(rules(), partitions=2).closer
        restored.restore(pipeline.closer.snapshot())
        assert restored.snapshot() == pipeline.closer.snapshot()

    def test_open_episode_survives_a_snapshot(self) -> None:
        """The firing event of an open episode is kept, so metrics can show it again."""
        first, _ = self._halves()
        pipeline = ReplayPipeline(rules(), partitions=2)
        fired = [a for a in pipeline.run(first) if a.status == "firing"]
        assert fired
        restored = ReplayPipeline(rules(), partitions=2).closer
        restored.restore(pipeline.closer.snapshot())
        assert {a.alert_id for a in restored.open_alerts.values()} == {a.alert_id for a in fired}

    def test_restored_aggregator_continues_like_the_original(self) -> None:
        """An aggregator restored from a snapshot and fed from its resume offset seals the
        same partials as one that never stopped."""
        records = list(lines([{"north": 40}] * 6))
        events = [decode_event("orders", value) for _, _, value in records]
        whole = SourceAggregator("orders/0", "orders", rules())
        for offset, event in enumerate(events):
            whole.add(event, offset)
        cut = len(events) // 2 + 7
        before = SourceAggregator("orders/0", "orders", rules())
        sealed = []
        for offset, event in enumerate(events[:cut]):
            before.add(event, offset)
        sealed += before.seal()
        after = SourceAggregator("orders/0", "orders", rules())
        resume = after.restore(before.snapshot(cut))
        for offset in range(resume, len(events)):
            after.add(events[offset], offset)
        sealed += after.seal()
        assert [(s.window_start_ms, s.key, s.partial.num) for s in sealed] == [
            (s.window_start_ms, s.key, s.partial.num) for s in whole.seal()]


class TestCompoundKeys:
    def test_separator_in_a_value_does_not_merge_series(self) -> None:
        """Region "A,B" + carrier "C" and region "A" + carrier "B,C" are two series, and
        the alert text reads each value back whole (issue #17, item 7)."""
        from alerts.model import SeriesRef, split_key
        from alerts.text import AlertTexts

        ruleset = parse_rules({"settings": {"lateness": "5m"}, "rules": {
            "complaint_rate": {"window": "1h", "dimensions": ["region,carrier"],
                               "runbook": "Check {key}."}}})
        agg = SourceAggregator("complaints/0", "complaints", ruleset)
        for i, (region, carrier) in enumerate([("A,B", "C"), ("A", "B,C"), ("x\\", "y")]):
            agg.add(decode_event("complaints", json.dumps({
                "event_id": f"k{i}", "ts": T0 + i, "complaint_id": f"c{i}", "region": region,
                "carrier": carrier}).encode()), i)
        agg.add(decode_event("complaints", json.dumps({
            "event_id": "late", "ts": T0 + 2 * HOUR, "complaint_id": "z"}).encode()), 9)
        keys = {s.key for s in agg.seal() if s.dimension == "region,carrier"}
        assert len(keys) == 3
        assert {tuple(split_key(k)) for k in keys} == {("A,B", "C"), ("A", "B,C"), ("x\\", "y")}
        key = next(k for k in keys if split_key(k) == ["A,B", "C"])
        where = AlertTexts().where(SeriesRef("complaint_rate", "region,carrier", key))
        assert where == "for region A,B / carrier C"
