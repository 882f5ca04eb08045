"""Aggregation and window closing (the pure pipeline, no Kafka)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.model import AlertEvent
from streams.contract.events import OrderEvent, WaitTimeEvent
from streams.contract.validation import decode_event
from streams.pipeline.aggregate import SourceAggregator
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules

HOUR = 3_600_000
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday


def rules(**detector: Any) -> RuleSet:
    """order_volume on total and region with 1 h windows, plus a p90 rule."""
    return parse_rules(
        {
            "settings": {"lateness": "5m"},
            "rules": {
                "order_volume": {
                    "window": "1h",
                    "dimensions": ["total", "region"],
                    "runbook": "Check {key}.",
                    "detector": {"grace_period": 24, "persistence": [1, 1], **detector},
                },
                "wait_time_p90": {
                    "window": "1h",
                    "dimensions": ["queue"],
                    "runbook": "Staff {key}.",
                    "detector": {"grace_period": 3},
                },
            },
        }
    )


def order(i: int, ts_ms: int, region: str = "north") -> OrderEvent:
    return OrderEvent(
        event_id=f"e{i}", ts_ms=ts_ms, order_id=f"o{i}", status="placed", region=region
    )


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
        events = [
            order(1, T0 + 10),
            order(2, T0 + 2 * HOUR),
            order(3, T0 + 12 * HOUR),
            order(4, T0 + 2 * HOUR + 60_000),
        ]
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
        assert {(s.dimension, s.key, s.partial.num) for s in sealed} == {
            ("total", "all", 1.0),
            ("region", "north", 1.0),
        }
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
            agg.add(
                WaitTimeEvent(
                    event_id=f"w{i}",
                    ts_ms=T0 + i,
                    ticket_id=f"t{i}",
                    wait_seconds=float(i * 60),
                    queue="returns",
                ),
                i,
            )
        agg.add(
            WaitTimeEvent(
                event_id="w", ts_ms=T0 + 2 * HOUR, ticket_id="t", wait_seconds=1.0, queue="returns"
            ),
            10,
        )
        [sealed] = agg.seal()
        assert sealed.partial.sketch is not None and sealed.partial.sketch.count == 10


def lines(counts_per_hour: list[dict[str, int]]) -> Iterator[tuple[str, bytes, bytes]]:
    """Placed orders, evenly spread within each hour, ``{region: count}`` per hour."""
    i = 0
    for hour, counts in enumerate(counts_per_hour):
        events = [
            (region, n) for region, counts_n in sorted(counts.items()) for n in range(counts_n)
        ]
        for j, (region, _) in enumerate(events):
            ts = T0 + hour * HOUR + j * HOUR // max(len(events), 1)
            value = {
                "event_id": f"e{i}",
                "ts": ts,
                "order_id": f"o{i}",
                "status": "placed",
                "region": region,
            }
            i += 1
            yield "orders", f"o{i}".encode(), json.dumps(value).encode()


def run(counts_per_hour: list[dict[str, int]], **detector: Any) -> list[AlertEvent]:
    return list(ReplayPipeline(rules(**detector), partitions=2).run(lines(counts_per_hour)))


class TestWindowCloser:
    def test_drop_to_zero_fires_without_events(self) -> None:
        """A region that stops sending orders fires although nothing arrived for it."""
        steady = [{"north": 40, "south": 40}] * 30
        alerts = run([*steady, *[{"south": 40}] * 6])
        fired = [(a.rule, a.dimension, a.key, a.direction) for a in alerts if a.status == "firing"]
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

    def _pending_closer(self) -> Any:
        """A closer holding plain (counts) and rich (sketch) partials of open windows."""
        from streams.pipeline.aggregate import Partial, SealedPartial
        from thresholds.sketch import QuantileSketch

        closer = ReplayPipeline(rules(), partitions=2).closer
        for i in range(50):
            closer.on_partial(
                SealedPartial(
                    f"orders/{i % 2}",
                    "order_volume",
                    "region",
                    f"r{i}",
                    T0,
                    T0 + HOUR,
                    Partial(float(i), 0.0),
                )
            )
        sketch = QuantileSketch()
        sketch.add(42.0)
        closer.on_partial(
            SealedPartial(
                "wait-times/0",
                "wait_time_p90",
                "queue",
                "q",
                T0,
                T0 + HOUR,
                Partial(0.0, 1.0, sketch),
            )
        )
        return closer

    def test_pending_partials_round_trip(self) -> None:
        """Plain pending partials (binary columns) and rich ones (JSON) come back equal, and
        the restored closer snapshots to the same bytes."""
        closer = self._pending_closer()
        snapshot = closer.snapshot()
        header = json.loads(snapshot[12 : 12 + int.from_bytes(snapshot[8:12], "little")])
        assert len(header["pending_plain"]) == 50 and len(header["pending"]) == 1
        restored = ReplayPipeline(rules(), partitions=2).closer
        restored.restore(snapshot)
        assert restored.pending == closer.pending
        assert restored.snapshot() == snapshot

    def test_closer_snapshot_without_plain_pending_still_restores(self) -> None:
        """A ``closer/2`` snapshot of the previous version (every pending partial as JSON,
        no trailing columns) restores the same pending partials."""
        closer = self._pending_closer()
        snapshot = closer.snapshot()
        size = int.from_bytes(snapshot[8:12], "little")
        header = json.loads(snapshot[12 : 12 + size])
        body = snapshot[12 + size : len(snapshot) - 2 * 8 * len(header["pending_plain"])]
        header["pending"] = [
            [rule, start, dimension, key, source, partial.to_dict()]
            for (rule, start), by_series in sorted(closer.pending.items())
            for (dimension, key), by_source in sorted(by_series.items())
            for source, partial in sorted(by_source.items())
        ]
        del header["pending_plain"]
        encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        old = b"closer/2" + len(encoded).to_bytes(4, "little") + encoded + body
        restored = ReplayPipeline(rules(), partitions=2).closer
        restored.restore(old)
        assert restored.pending == closer.pending

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
            (s.window_start_ms, s.key, s.partial.num) for s in whole.seal()
        ]


class TestPanes:
    """Overlapping windows are sealed from per-hop panes: the result must be what folding
    every event into every window holding it gives."""

    RULES = {
        "settings": {"lateness": "2m"},
        "rules": {
            "return_rate": {
                "window": "4h",
                "hop": "1h",
                "dimensions": ["sku", "region,carrier"],
                "context": ["sku"],
                "runbook": "Check {key}.",
            },
            "wait_time_p90": {
                "window": "30m",
                "hop": "15m",
                "dimensions": ["queue"],
                "runbook": "Staff {key}.",
            },
        },
    }

    def events(self) -> list[OrderEvent | WaitTimeEvent]:
        import random

        rng = random.Random(7)
        out: list[OrderEvent | WaitTimeEvent] = []
        ts = T0
        for i in range(3_000):
            ts += rng.randrange(0, 20_000)
            if rng.random() < 0.3:
                out.append(
                    WaitTimeEvent(
                        event_id=f"w{i}",
                        ts_ms=ts,
                        ticket_id=f"t{i}",
                        wait_seconds=rng.uniform(1, 3_000),
                        queue=rng.choice(["a", "b"]),
                    )
                )
                continue
            status = rng.choice(["delivered", "delivered", "return_requested"])
            # a few events a little out of order (within the lateness)
            when = ts - rng.randrange(0, 60_000) if rng.random() < 0.1 else ts
            out.append(
                OrderEvent(
                    event_id=f"e{i}",
                    ts_ms=when,
                    order_id=f"o{i}",
                    status=status,
                    sku=rng.choice(["s1", "s2", "s3", "s4"]),
                    region=rng.choice(["n", "s"]),
                    carrier="c",
                )
            )
        return out

    def test_windows_from_panes_equal_folding_every_window(self) -> None:
        events = self.events()
        rules = parse_rules(self.RULES)
        agg = SourceAggregator("orders/0", "orders", rules)
        waits = SourceAggregator("wait-times/0", "wait-times", rules)
        sealed = []
        for offset, event in enumerate(events):
            target = waits if isinstance(event, WaitTimeEvent) else agg
            target.add(event, offset)
            if offset % 97 == 0:
                sealed += agg.seal() + waits.seal()
        sealed += agg.seal() + waits.seal()
        got = {(s.rule, s.dimension, s.key, s.window_start_ms): s.partial for s in sealed}
        assert len(got) == len(sealed), "a window was sealed twice"
        expected: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        last = max(e.ts_ms for e in events) - 2 * 60_000  # the final watermark
        for event in events:
            for rule in rules.rules:
                if isinstance(event, WaitTimeEvent) != (rule.name == "wait_time_p90"):
                    continue
                keys = (
                    [("queue", event.queue)]
                    if isinstance(event, WaitTimeEvent)
                    else [("sku", event.sku), ("region,carrier", f"{event.region},{event.carrier}")]
                )
                first = event.ts_ms - event.ts_ms % rule.hop_ms - rule.window_ms + rule.hop_ms
                for start in range(first, event.ts_ms + 1, rule.hop_ms):
                    if start + rule.window_ms > last:
                        continue
                    for dimension, key in keys:
                        want = expected.setdefault(
                            (rule.name, dimension, key, start),
                            {"n": 0.0, "d": 0.0, "waits": [], "sku": {}},
                        )
                        if isinstance(event, WaitTimeEvent):
                            want["d"] += 1
                            want["waits"].append(event.wait_seconds)
                        elif event.status == "delivered":
                            want["d"] += 1
                        else:
                            want["n"] += 1
                            want["sku"][event.sku] = want["sku"].get(event.sku, 0) + 1
        assert set(got) == set(expected)
        for window, want in expected.items():
            partial = got[window]
            assert (partial.num, partial.den) == (want["n"], want["d"]), window
            if want["waits"]:
                from thresholds.sketch import QuantileSketch

                reference = QuantileSketch()
                for wait in want["waits"]:
                    reference.add(wait)
                assert partial.sketch is not None
                assert partial.sketch.to_json() == reference.to_json(), window
            elif want["sku"]:
                assert partial.context == {"sku": want["sku"]}, window

    def test_resume_offset_is_the_oldest_pane_still_needed(self) -> None:
        """Restored from a snapshot taken mid-stream, the aggregator seals the same windows."""
        events = [e for e in self.events() if isinstance(e, OrderEvent)]
        rules = parse_rules(self.RULES)
        whole = SourceAggregator("orders/0", "orders", rules)
        for offset, event in enumerate(events):
            whole.add(event, offset)
        cut = 3 * len(events) // 4
        before = SourceAggregator("orders/0", "orders", rules)
        for offset, event in enumerate(events[:cut]):
            before.add(event, offset)
        sealed = before.seal()
        after = SourceAggregator("orders/0", "orders", rules)
        resume = after.restore(before.snapshot(cut))
        assert 0 < resume < cut
        for offset in range(resume, len(events)):
            after.add(events[offset], offset)
        sealed += after.seal()
        key = [
            (s.rule, s.dimension, s.key, s.window_start_ms, s.partial.num, s.partial.den)
            for s in sealed
        ]
        assert key == [
            (s.rule, s.dimension, s.key, s.window_start_ms, s.partial.num, s.partial.den)
            for s in whole.seal()
        ]


class TestCompoundKeys:
    def test_separator_in_a_value_does_not_merge_series(self) -> None:
        """Region "A,B" + carrier "C" and region "A" + carrier "B,C" are two series, and
        the alert text reads each value back whole (issue #17, item 7)."""
        from alerts.model import SeriesRef, split_key
        from alerts.text import AlertTexts

        ruleset = parse_rules(
            {
                "settings": {"lateness": "5m"},
                "rules": {
                    "complaint_rate": {
                        "window": "1h",
                        "dimensions": ["region,carrier"],
                        "runbook": "Check {key}.",
                    }
                },
            }
        )
        agg = SourceAggregator("complaints/0", "complaints", ruleset)
        for i, (region, carrier) in enumerate([("A,B", "C"), ("A", "B,C"), ("x\\", "y")]):
            agg.add(
                decode_event(
                    "complaints",
                    json.dumps(
                        {
                            "event_id": f"k{i}",
                            "ts": T0 + i,
                            "complaint_id": f"c{i}",
                            "region": region,
                            "carrier": carrier,
                        }
                    ).encode(),
                ),
                i,
            )
        agg.add(
            decode_event(
                "complaints",
                json.dumps({"event_id": "late", "ts": T0 + 2 * HOUR, "complaint_id": "z"}).encode(),
            ),
            9,
        )
        keys = {s.key for s in agg.seal() if s.dimension == "region,carrier"}
        assert len(keys) == 3
        assert {tuple(split_key(k)) for k in keys} == {("A,B", "C"), ("A", "B,C"), ("x\\", "y")}
        key = next(k for k in keys if split_key(k) == ["A,B", "C"])
        where = AlertTexts().where(SeriesRef("complaint_rate", "region,carrier", key))
        assert where == "for region A,B / carrier C"
