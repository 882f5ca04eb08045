"""Backfill: the history runs through the replay code path, split into the worker's closers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.text import AlertTexts
from streams.contract.events import TOPICS
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import OrderDrop
from streams.dev.simulator.jsonl import event_line
from streams.pipeline.closer import WindowCloser
from streams.pipeline.oncall import OnCall
from streams.pipeline.replay import ReplayPipeline, read_jsonl
from streams.pipeline.wire import closer_partition
from streams.rules.catalogue import RuleSet, parse_rules
from streams.runtime.backfill import BackfillPipeline, Layout

START = datetime(2026, 11, 2, tzinfo=UTC)


def rules() -> RuleSet:
    return parse_rules(
        {
            "rules": {
                "order_volume": {
                    "window": "15m",
                    "dimensions": ["total", "channel"],
                    "relative_to": "total",
                    "total_direction": "down",
                    "detector": {
                        "grace_period": 24,
                        "persistence": [2, 3],
                        "cusum_direction": "down",
                    },
                }
            }
        }
    )


def history_lines() -> list[bytes]:
    config = SimulationConfig(
        seed=3,
        start=START,
        duration=timedelta(days=2),
        orders_per_day=3_000,
        incidents=(
            OrderDrop(
                start=START + timedelta(days=1, hours=10),
                duration=timedelta(hours=2),
                channel="app",
                magnitude=0.05,
            ),
        ),
    )
    return [event_line(event).encode() for event in simulate(config)]


def test_backfill_decides_what_replay_decides_with_each_series_in_its_workers_closer() -> None:
    lines = history_lines()
    bad = [
        b"{not json",
        b'{"topic": "refunds", "value": {}}',
        b'{"topic": "orders", "value": {"order_id": "x"}}',
    ]
    layout = Layout(dict.fromkeys(TOPICS, 4), [0, 1, 2])
    pipeline = BackfillPipeline(rules(), layout)
    alerts = pipeline.run(read_jsonl(lines[:100] + bad + lines[100:]))
    replay = ReplayPipeline(rules(), partitions=4)
    expected = list(replay.run(read_jsonl(lines)))

    assert {a.alert_id for a in alerts if a.rule == "order_volume"} == {
        a.alert_id for a in expected if a.rule == "order_volume"
    }
    assert any(a.key == "app" and a.status == "firing" for a in alerts), "scenario too quiet"
    assert pipeline.result.lines == len(lines) + len(bad)
    assert sorted(d.reason for d in pipeline.result.dead_letters) == sorted(
        d.reason for d in replay.dead_letters + _dead_of(bad)
    )
    # Every series sits in the closer the worker routes it to (order_volume's all in one:
    # its keys are judged against its total), and only there.
    held = [sid for closer in pipeline.closers for sid in closer.banks["order_volume"].ids]
    assert len(held) == len(set(held)) >= 4
    for index, closer in enumerate(pipeline.closers):
        assert all(closer_partition(sid, 3) == index for sid in closer.banks["order_volume"].ids)
    closed = [
        c.closed_through["order_volume"]
        for c in pipeline.closers
        if "order_volume" in c.closed_through
    ]
    assert pipeline.result.live_from_ms == min(closed) + 15 * 60_000
    assert pipeline.result.live_from_ms > int(
        (START + timedelta(days=2, hours=-1)).timestamp() * 1000
    )


def _dead_of(bad: list[bytes]):  # type: ignore[no-untyped-def]
    replay = ReplayPipeline(rules(), partitions=4)
    list(replay.run(read_jsonl(bad)))
    return replay.dead_letters


def test_a_restored_closer_continues_the_backfilled_baseline() -> None:
    """The snapshot is what the worker restores: a closer loaded from it is ready at once."""
    layout = Layout(dict.fromkeys(TOPICS, 2), [0])
    pipeline = BackfillPipeline(rules(), layout)
    pipeline.run(read_jsonl(history_lines()))
    restored = WindowCloser(
        rules(), layout.inputs, AlertTexts(), shards=1, oncall=OnCall(rules().mutes, None, {})
    )
    restored.restore(pipeline.closers[0].snapshot())
    assert restored.closed_through == pipeline.closers[0].closed_through
    sid = "order_volume:channel:web"
    bank, original = restored.banks["order_volume"], pipeline.closers[0].banks["order_volume"]
    assert list(bank.ids) == list(original.ids)
    assert bank.export_state(sid) == original.export_state(sid)
    assert bank.state(sid).n >= 24, "the backfilled baseline is past its warm-up"


def test_hand_over_gaps_name_partitions_that_start_late_or_hold_nothing() -> None:
    from streams.runtime.backfill import hand_over_gaps

    earliest = {"orders/0": 900, "orders/1": 1_000, "orders/2": 1_001, "orders/3": None}
    assert hand_over_gaps(1_000, earliest) == ["orders/2", "orders/3"]
    assert hand_over_gaps(2_000, {"orders/0": 5}) == []


def test_without_risk_replay_and_backfill_alert_the_same_and_score_nothing() -> None:
    """``risk=False`` changes no alert and scores no order: in replay (``replay`` without
    ``--risk-out``; before, every order's records piled up in memory unread) and in a
    backfill (``AFTERSALES_RISK_SCORE=false``; before, it stopped at the first watermark
    on an assertion)."""
    lines = history_lines()
    scored, alerts_only = ReplayPipeline(rules()), ReplayPipeline(rules(), risk=False)
    with_risk = [a.to_json() for a in scored.run(read_jsonl(lines))]
    without = [a.to_json() for a in alerts_only.run(read_jsonl(lines))]
    assert with_risk, "the history's channel outage fires"
    assert with_risk == without
    assert len(scored.take_risk()) > 1_000
    assert alerts_only.take_risk() == [] and alerts_only.risk_shards == []

    layout = Layout(dict.fromkeys(TOPICS, 4), [0, 1, 2])
    backfills = BackfillPipeline(rules(), layout), BackfillPipeline(rules(), layout, risk=False)
    with_risk, without = ([a.to_json() for a in b.run(read_jsonl(lines))] for b in backfills)
    assert with_risk and with_risk == without
    assert backfills[0].result.risk_records > 1_000 and backfills[1].result.risk_records == 0


def test_backfill_warms_the_risk_score_the_worker_restores() -> None:
    """Every order of the history is scored once in its customer's closer (each fact
    handed over once: none re-sent as late or duplicate), and the snapshot a worker
    restores carries that risk state."""
    lines = history_lines()
    layout = Layout(dict.fromkeys(TOPICS, 4), [0, 1, 2])
    pipeline = BackfillPipeline(rules(), layout)
    pipeline.run(read_jsonl(lines))
    replay = ReplayPipeline(rules(), partitions=4)
    list(replay.run(read_jsonl(lines)))

    assert pipeline.result.risk_records == len(replay.take_risk()) > 1_000
    shards = [closer.risk for closer in pipeline.closers]
    assert all(shard is not None for shard in shards)
    assert sum(s.late + s.duplicates for s in shards if s is not None) == sum(
        s.late + s.duplicates for s in replay.risk_shards
    )
    for closer in pipeline.closers:
        restored = WindowCloser(
            rules(),
            layout.inputs,
            AlertTexts(),
            shards=3,
            oncall=OnCall(rules().mutes, None, {}),
            risk=True,
        )
        restored.restore(closer.snapshot())
        assert restored.risk is not None and closer.risk is not None
        assert restored.risk.scorer.customers, "each closer holds customers of the history"
        assert restored.risk.to_dict() == closer.risk.to_dict()
