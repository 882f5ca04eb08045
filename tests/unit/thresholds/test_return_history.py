"""Frequent returners' rolling history (thresholds.return_history) and the closer state of
the customer/address rules: exact rolling sums, bounded memory, snapshots, distinct
customers counted once across sources."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from streams.pipeline.aggregate import Partial, SealedPartial
from streams.pipeline.replay import ReplayPipeline
from tests.unit.scenarios.test_noise_floor import shipped
from thresholds.return_history import ReturnHistory
from thresholds.tails import binomial_tail

HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("r", "n", "p"),
    [(0, 5, 0.1), (3, 5, 0.1), (5, 5, 0.3), (6, 5, 0.1), (20, 200, 0.1), (1, 1, 0.5)],
)
def test_binomial_tail_matches_the_sum_of_the_mass(r: int, n: int, p: float) -> None:
    exact = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(r, n + 1))
    assert binomial_tail(r, n, p) == pytest.approx(min(exact, 1.0), rel=1e-9, abs=1e-300)


def _population(history: ReturnHistory, at: int) -> None:
    history.close(at, {"C-pop": (0.0, 10_000.0)})  # a 10 % return rate: (1 + 0) / 10 prior


def test_returns_leave_the_rolling_30_days() -> None:
    """Eight returns fire; 30 days after them the count is back to zero and the customer
    is forgotten at the next sweep (as is the population's stand-in)."""
    history = ReturnHistory(window_ms=HOUR)
    history.close(HOUR, {"C-pop": (1_000.0, 10_000.0)})
    assert history.close(2 * HOUR, {"C-1": (8.0, 8.0)})["C-1"].violating
    later = 2 * HOUR + 30 * DAY
    verdict = history.close(later, {"C-1": (0.0, 1.0)})["C-1"]
    assert verdict.count == 0.0 and not verdict.violating
    assert history.sweep(later + 30 * DAY + HOUR) == 2 and not history.entities  # C-pop too


def test_a_busy_customer_at_the_population_rate_stays_quiet() -> None:
    """300 deliveries and 33 returns in a month against a 10 % population: no alert."""
    history = ReturnHistory(window_ms=HOUR)
    history.close(HOUR, {"C-pop": (1_000.0, 10_000.0)})
    verdict = None
    for day in range(30):
        verdict = history.close(2 * HOUR + day * DAY, {"C-B2B": (1.1, 10.0)})["C-B2B"]
    assert verdict is not None and not verdict.violating and verdict.count == 33.0


def test_minimum_count_holds_for_few_deliveries() -> None:
    """Five returns of five deliveries are improbable but at the minimum count: quiet."""
    history = ReturnHistory(window_ms=HOUR)
    history.close(HOUR, {"C-pop": (1_000.0, 10_000.0)})
    assert not history.close(2 * HOUR, {"C-1": (5.0, 5.0)})["C-1"].violating
    assert history.close(3 * HOUR, {"C-1": (2.0, 2.0)})["C-1"].violating  # 7 of 7


def test_the_cap_keeps_the_customers_with_most_returns() -> None:
    history = ReturnHistory(window_ms=HOUR, max_entities=100)
    history.close(HOUR, {"C-top": (9.0, 9.0)})
    history.close(2 * HOUR, {f"C-{i}": (1.0, 1.0) for i in range(200)})
    assert len(history.entities) <= 100 and "C-top" in history.entities


def test_state_round_trips() -> None:
    history = ReturnHistory(window_ms=HOUR)
    history.close(HOUR, {"C-1": (2.0, 3.0), "C-2": (0.0, 4.0)})
    copy = ReturnHistory(window_ms=HOUR)
    copy.load(json.loads(json.dumps(history.to_dict())))
    assert copy.to_dict() == history.to_dict()
    assert copy.close(2 * HOUR, {"C-1": (1.0, 1.0)}) == history.close(2 * HOUR, {"C-1": (1.0, 1.0)})


def test_distinct_customers_count_once_across_sources_and_orders() -> None:
    """Two sources each saw the same three customers (one of them twice) at one address:
    the window counts three distinct customers, not seven orders."""
    pipeline = ReplayPipeline(shipped("shared_address"), partitions=2)
    closer = pipeline.closer
    rule = closer.rules.by_name("shared_address")
    start = 0
    for source, customers in (
        ("orders/0", {"C-1": 2.0, "C-2": 1.0, "C-3": 1.0}),
        ("orders/1", {"C-1": 1.0, "C-2": 1.0, "C-3": 1.0}),
    ):
        partial = Partial(sum(customers.values()), 0.0, context={"customer_id": Counter(customers)})
        wired = Partial.from_dict(partial.to_dict())  # as a partial travels on the wire
        closer.on_partial(
            SealedPartial(
                source, "shared_address", "address", "A-1", start, start + rule.window_ms, wired
            )
        )
    seen = []
    closer.on_closed = seen.append
    closer._close_window(rule, start)
    assert [(c.key, c.decision.observed) for c in seen] == [("A-1", 3.0)]


def test_closer_state_of_both_rules_survives_a_snapshot() -> None:
    """After a run with returns and shared addresses the closer's snapshot holds the
    returners and the per-shard address histories, and restores to the same bytes."""
    from tests.unit.scenarios.test_customer_rules import T0, traffic

    rules = shipped("frequent_returner", "shared_address")
    pipeline = ReplayPipeline(rules, partitions=2)
    injected = [(T0 + HOUR + k * 60_000, f"C-N{k}", "A-X", True) for k in range(3)]
    records = (
        (
            r["topic"],
            r["value"][r["key"]].encode(),
            json.dumps(r["value"], separators=(",", ":")).encode(),
        )
        for r in traffic(8, 5, injected)
    )
    list(pipeline.run(records))
    snapshot = pipeline.closer.snapshot()
    header = json.loads(snapshot[12 : 12 + int.from_bytes(snapshot[8:12], "little")])
    assert {r[1] for r in header["returners"]} == {"customer/0", "customer/1"}
    assert any(r[0] == "shared_address" for r in header["entity_rates"])
    assert header["entity_closes"]
    restored = ReplayPipeline(rules, partitions=2).closer
    restored.restore(snapshot)
    assert restored.snapshot() == snapshot
