"""Panes of hopping windows shipped once by stage 1 and united per window by the closer.

They fail if a rule that ships panes decides differently than it did with whole-window
partials, if a pane is shipped more than once, if a closer restored mid-window differs
from one never stopped, or if a late pane is counted into a window already closed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alerts.text import AlertTexts
from streams.contract.events import TOPICS, Event
from streams.contract.validation import decode_event
from streams.pipeline import aggregate, closer
from streams.pipeline.aggregate import Partial, SealedPartial, SourceAggregator, ships_panes
from streams.pipeline.closer import Closed, WindowCloser
from streams.pipeline.replay import ReplayPipeline, Stage1, Stage1Output, partition_for
from streams.pipeline.wire import decode, pack_partials
from streams.rules.catalogue import RuleSet, load_rules
from tests.unit.scenarios.test_customer_rules import DAY, HOUR, MIN, T0, traffic
from tests.unit.scenarios.test_noise_floor import shipped
from thresholds._compiled import is_compiled

PARTITIONS = 4
ENTITY_RULES = ("shared_address", "customer_order_burst")


def records(days: int = 4) -> list[tuple[str, bytes, bytes]]:
    """Plain customer traffic with one shared address (six new customers in 50 minutes
    on day 3) and one customer's burst of eight orders in 40 minutes on day 3."""
    drop = T0 + 3 * DAY + 13 * HOUR
    burst = T0 + 3 * DAY + 9 * HOUR
    injected = [(drop + k * 10 * MIN, f"C-NEW-{k}", "A-DROP", False) for k in range(6)]
    injected += [(burst + k * 5 * MIN, "C-BURST", "A-BURST", False) for k in range(8)]
    return [
        (r["topic"], r["value"][r["key"]].encode(), json.dumps(r["value"]).encode())
        for r in traffic(7, days, injected)
    ]


def run_replay(rules: RuleSet, lines: list[tuple[str, bytes, bytes]]) -> tuple[list, list, int]:
    """Alerts, every window decision and the partials shipped, of one replay."""
    pipeline = ReplayPipeline(rules, partitions=PARTITIONS, batch_size=300)
    decisions: list[Closed] = []
    pipeline.closer.on_closed = decisions.append
    alerts = [alert.to_dict() for alert in pipeline.run(lines)]
    return alerts, decisions, sum(pipeline.stage1.sealed.values())


class TestWhichRules:
    def test_entity_rules_and_plain_hopping_counts_ship_panes(self) -> None:
        rules = {rule.name: rule for rule in load_rules(None).rules}
        paned = {name for name, rule in rules.items() if ships_panes(rule)}
        assert {"shared_address", "customer_order_burst"} <= paned
        assert "wait_sla_breach_share" in paned  # a share: whole counts, no context
        for name in (
            "order_volume",  # tumbling: one window per pane
            "wait_time_p90",  # a sketch: the log-mean's float sums follow merge order
            "return_rate",  # delivery cohorts: exposure per window
            "complaint_volume",  # a context of a series rule: tops of tops
        ):
            assert name not in paned


class TestSameDecisions:
    @pytest.mark.skipif(
        is_compiled(aggregate), reason="replaces module functions: a compiled build ignores that"
    )
    def test_panes_decide_what_whole_windows_decided(self, monkeypatch: pytest.MonkeyPatch) -> None:
        rules = shipped(*ENTITY_RULES)
        lines = records()
        alerts, decisions, shipped_panes = run_replay(rules, lines)
        monkeypatch.setattr(aggregate, "ships_panes", lambda _rule: False)
        monkeypatch.setattr(closer, "ships_panes", lambda _rule: False)
        old_alerts, old_decisions, shipped_windows = run_replay(rules, lines)
        fired = {(a["rule"], a["key"]) for a in alerts if a["status"] == "firing"}
        assert fired >= {  # the injected cases fire (so the comparison is not empty)
            ("shared_address", "A-DROP"),
            ("customer_order_burst", "C-BURST"),
            ("customer_order_burst", "A-BURST"),  # its address bursts too
        }
        assert alerts == old_alerts
        assert decisions == old_decisions
        # An address was shipped in 12 windows (1 day hopping every 2 h), a customer in 2.
        assert shipped_panes * 4 < shipped_windows


def _order(ts: int, order: str, customer: str, address: str) -> Any:
    return (
        "orders",
        order.encode(),
        json.dumps(
            {
                "event_id": f"e-{order}",
                "ts": ts,
                "order_id": order,
                "status": "placed",
                "customer_id": customer,
                "address_id": address,
            }
        ).encode(),
    )


class TestStageOne:
    def test_each_pane_is_shipped_once_when_its_end_passes(self) -> None:
        rules = shipped("shared_address")
        rule = rules.rules[0]
        stage1 = Stage1(rules, {t: f"aftersales.{t}" for t in TOPICS})
        out = Stage1Output()
        times = [T0 + 10 * MIN, T0 + 3 * HOUR, T0 + 5 * HOUR, T0 + 9 * HOUR]
        for i, ts in enumerate(times):
            stage1.process("orders", 0, i, *_order(ts, f"O{i}", f"C{i}", "A-1")[1:], out)
            stage1.seal(out)
        spans = {(p.window_start_ms, p.window_end_ms) for p in out.partials}
        assert len(spans) == len(out.partials) == 3  # the fourth pane is still open
        assert all(end - start == rule.hop_ms for start, end in spans)
        assert [p.partial.context for p in out.partials] == [
            {"customer_id": {"C0": 1.0}},
            {"customer_id": {"C1": 1.0}},
            {"customer_id": {"C2": 1.0}},
        ]
        agg = stage1.aggregator("orders", 0)
        assert len(agg.open) == 1  # a shipped pane is not kept for its later windows

    def test_restored_mid_pane_it_ships_each_pane_once_and_the_same(self) -> None:
        rules = shipped("shared_address")
        events = [
            decode_event("orders", value)
            for topic, key, value in records(3)
            if topic == "orders" and partition_for(key, PARTITIONS) == 0
        ]

        def run(agg: SourceAggregator, part: list[Event], first: int) -> list[Any]:
            out = []
            for offset, event in enumerate(part, first):
                agg.add(event, offset)
                out += agg.seal()
            return [(p.window_start_ms, p.window_end_ms, p.key, p.partial.to_dict()) for p in out]

        whole = run(SourceAggregator("orders/0", "orders", rules), events, 0)
        for cut in (len(events) // 3, 2 * len(events) // 3):
            first = SourceAggregator("orders/0", "orders", rules)
            before = run(first, events[:cut], 0)
            fresh = SourceAggregator("orders/0", "orders", rules)
            resume = fresh.restore(first.snapshot(cut))
            assert resume < cut  # the open panes are read again
            after = run(fresh, events[resume:], resume)
            assert before + after == whole  # nothing shipped twice, nothing lost


#: What a closer receives, batch by batch: the packed partials records and watermarks.
_Batches = list[tuple[list[bytes], list[tuple[str, int]]]]


def _stage1_batches(
    rules: RuleSet, lines: list[tuple[str, bytes, bytes]], batch: int = 300
) -> _Batches:
    """What a closer receives from replay's stage 1, batch by batch, as wire records
    (decoded afresh for each closer: a closer takes partials over)."""
    stage1 = Stage1(rules, {t: f"aftersales.{t}" for t in TOPICS})
    offsets: dict[tuple[str, int], int] = {}
    batches: _Batches = []
    out = Stage1Output()
    for n, (topic, key, value) in enumerate(lines, 1):
        partition = partition_for(key, PARTITIONS)
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        stage1.process(topic, partition, offset, key, value, out)  # type: ignore[arg-type]
        if n % batch == 0 or n == len(lines):
            stage1.seal(out)
            packed = [record for _, record in pack_partials(out.partials, 1)]
            batches.append((packed, list(out.watermarks)))
            out = Stage1Output()
    return batches


def _closer(rules: RuleSet, decisions: list[Closed]) -> WindowCloser:
    return WindowCloser(
        rules,
        dict.fromkeys(TOPICS, PARTITIONS),
        AlertTexts(),
        decisions.append,
        shards=PARTITIONS,
    )


def _feed(target: WindowCloser, batches: _Batches) -> list[dict[str, Any]]:
    alerts = []
    for packed, marks in batches:
        for record in packed:
            partials = decode(record)
            assert isinstance(partials, list)
            for sealed in partials:
                target.on_partial(sealed)
        for source, mark in marks:
            alerts += [a.to_dict() for a in target.on_watermark(source, mark)]
    return alerts


class TestCloserSnapshot:
    def test_restored_mid_window_it_decides_as_if_never_stopped(self) -> None:
        rules = shipped(*ENTITY_RULES)
        batches = _stage1_batches(rules, records())
        whole: list[Closed] = []
        expected = _feed(_closer(rules, whole), batches)
        assert any(a["status"] == "firing" for a in expected)
        # Stop in the middle of day 3's windows, before either incident.
        cut = next(
            i
            for i, (_, marks) in enumerate(batches)
            if marks and min(mark for _, mark in marks) > T0 + 3 * DAY + 5 * HOUR
        )
        before: list[Closed] = []
        first = _closer(rules, before)
        alerts = _feed(first, batches[:cut])
        assert first.panes  # panes held for windows still open
        held = {start for (name, start) in first.panes if name == "shared_address"}
        assert len(held) > 1  # a 1-day window is partly collected
        data = first.snapshot()
        after: list[Closed] = []
        second = _closer(rules, after)
        second.restore(data)
        assert second.snapshot() == data
        alerts += _feed(second, batches[cut:])
        assert alerts == expected
        assert before + after == whole


def _pane(source: str, key: str, start: int, rule: Any, customers: list[str]) -> SealedPartial:
    context = {"customer_id": dict.fromkeys(customers, 1.0)} if customers else None
    return SealedPartial(
        source,
        rule.name,
        "address" if rule.name == "shared_address" else "customer",
        key,
        start,
        start + rule.hop_ms,
        Partial(float(max(len(customers), 1)), 0.0, None, context),
    )


class TestCloserPanes:
    def _setup(self, name: str) -> tuple[Any, WindowCloser, list[Closed]]:
        rules = shipped(name)
        decisions: list[Closed] = []
        target = WindowCloser(
            rules,
            {"orders": 2, "complaints": 1, "wait-times": 1, "reviews": 1},
            AlertTexts(),
            decisions.append,
        )
        return rules.rules[0], target, decisions

    def test_a_late_pane_counts_only_in_windows_still_open(self) -> None:
        rule, target, decisions = self._setup("customer_order_burst")
        t = T0 + 10 * HOUR  # a multiple of the 5-minute hop
        target.on_partial(_pane("orders/0", "C-1", t, rule, []))
        for source in ("orders/0", "orders/1"):
            target.on_watermark(source, t + rule.hop_ms)  # closes the window ending there
        assert [(d.window_start_ms, d.key) for d in decisions] == [(t - rule.hop_ms, "C-1")]
        # A pane of a closed window only: late, counted, dropped.
        target.on_partial(_pane("orders/1", "C-2", t - rule.hop_ms, rule, []))
        assert target.late_partials == 1
        # A pane whose older window closed without it: kept for the window still open.
        target.on_partial(_pane("orders/1", "C-3", t, rule, []))
        assert target.late_partials == 1
        for source in ("orders/0", "orders/1"):
            target.on_watermark(source, t + 2 * rule.hop_ms)
        assert [(d.window_start_ms, d.key) for d in decisions[1:]] == [(t, "C-1"), (t, "C-3")]
        assert not target.panes  # none is needed any more

    def test_a_sources_panes_are_united_and_cut_like_its_window_partial(self) -> None:
        rule, target, decisions = self._setup("shared_address")
        t = T0 + 2 * DAY  # a multiple of the 2-hour hop
        first = [f"C-{i:03d}" for i in range(40)]
        second = [f"C-{i:03d}" for i in range(30, 70)]  # 10 shared with the first pane
        target.on_partial(_pane("orders/0", "A-1", t, rule, first))
        target.on_partial(_pane("orders/0", "A-1", t + rule.hop_ms, rule, second))
        target.on_partial(_pane("orders/1", "A-1", t + rule.hop_ms, rule, ["C-900"]))
        target.on_partial(_pane("orders/0", "A-1", t + rule.hop_ms, rule, ["C-999"]))  # again
        for source in ("orders/0", "orders/1"):
            target.on_watermark(source, t + rule.window_ms)
        seen = {d.window_start_ms: d.decision.observed for d in decisions if d.key == "A-1"}
        # Windows holding both panes: source 0 saw 70 customers, cut to its top 64 (all
        # weigh one: the first 64 by id), and source 1 one more.
        assert seen[t] == 65.0
        assert seen[t - rule.window_ms + rule.hop_ms] == 40.0  # the first pane only
        assert target.late_partials == 0

    def test_a_whole_window_partial_wins_over_the_same_sources_panes(self) -> None:
        rule, target, decisions = self._setup("customer_order_burst")
        t = T0 + 10 * HOUR
        target.on_partial(_pane("orders/0", "C-1", t, rule, []))
        target.on_partial(_pane("orders/0", "C-1", t + rule.hop_ms, rule, []))
        whole = SealedPartial(
            "orders/0", rule.name, "customer", "C-1", t, t + rule.window_ms, Partial(7.0, 0.0)
        )
        target.on_partial(whole)
        for source in ("orders/0", "orders/1"):
            target.on_watermark(source, t + rule.window_ms)
        seen = {d.window_start_ms: d.decision.observed for d in decisions}
        assert seen == {t - rule.hop_ms: 1.0, t: 7.0}
