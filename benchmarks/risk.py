"""Per-order risk: prequential AUC against a category baseline and the simulator's oracle.

Simulates a shop with repeat customers and the risk drivers on
(:attr:`~streams.dev.simulator.config.SimulationConfig.risk_drivers`), validates every
event as the intake does, and feeds the facts through a
:class:`~streams.risk.shard.RiskShard` in stream order (the code the worker and
``replay`` run). For each order delivered inside the evaluation window the label is
"a return/exchange request or a complaint within 30 days of delivery"; the score
evaluated is the delivered-stage one, computed before any of that order's outcomes.

Printed beside it: (a) the category's long-run outcome rate alone (computed over the
whole run, which flatters it), (b) the simulator's true per-order probability
(oracle), (c) a bound on what any scorer that must learn the customers can reach, and
the lift of the top decile. Then memory per tracked customer and the scorer's cost per
event. Figures only; nothing passes or fails here.

The bound (:func:`propensity_bound`) is the oracle's own probability with one thing
hidden, the customer's return propensity, replaced by its posterior mean given the
outcomes of all of the customer's earlier deliveries (Bayes' rule on a grid over the
propensities the simulator drew). It knows more than any online scorer: every other
driver exactly (SKU, quantity, cell damage, lateness, a damaged parcel) and the
eventual outcome of deliveries whose outcome window is still open. So a scorer's AUC
above the bound is impossible, and a target above it cannot be met on this simulator.

    python -m benchmarks.risk [--days 90] [--orders-per-day 2000] [--customers 4000]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from dataclasses import replace
from datetime import timedelta

import numpy as np

from benchmarks._common import RESULTS, machine
from streams.contract.events import TopicName
from streams.contract.validation import decode_event
from streams.dev.simulator import SimulationConfig
from streams.dev.simulator.generator import Simulation
from streams.risk import RiskFact, RiskShard, fact_from_event
from streams.risk.scorer import RiskScorer

_DAY_MS = 86_400_000
_HORIZON_MS = 30 * _DAY_MS
_OUTCOMES = ("return_requested", "exchange_requested", "complaint")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney U statistic (ties get mid-ranks)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_decile_lift(scores: np.ndarray, labels: np.ndarray) -> float:
    """Positive rate of the 10 % highest scores over the overall positive rate."""
    k = max(1, len(scores) // 10)
    top = np.argsort(-scores, kind="mergesort")[:k]
    return float(labels[top].mean() / labels.mean())


def evaluate(
    config: SimulationConfig, windows: list[tuple[int, int]]
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Run the scorer over ``config``'s events; return the run's figures and, per
    evaluation window ``(first day, last day)`` of delivery, the scores' figures."""
    sim = Simulation(config)
    shard = RiskShard(("orders/0", "complaints/0"))
    delivered_score: dict[str, float] = {}
    delivered_at: dict[str, int] = {}
    category: dict[str, str] = {}
    first_outcome: dict[str, int] = {}
    facts = 0
    scorer_s = 0.0
    for event in sim.events():
        topic: TopicName = event.topic  # type: ignore[assignment]
        if topic not in ("orders", "complaints"):
            continue
        parsed = decode_event(topic, json.dumps(event.value).encode())
        fact = fact_from_event(parsed)
        if fact is None:
            continue
        facts += 1
        began = time.perf_counter()
        shard.on_fact(fact)
        shard.on_watermark("orders/0", fact.ts_ms)
        shard.on_watermark("complaints/0", fact.ts_ms)
        records = shard.drain()
        scorer_s += time.perf_counter() - began
        for record in records:
            if record.stage == "delivered":
                delivered_score[record.order_id] = record.score
                delivered_at[record.order_id] = record.ts_ms
                category[record.order_id] = record.category or ""
        if fact.kind in _OUTCOMES and fact.order_id is not None:
            first_outcome.setdefault(fact.order_id, fact.ts_ms)
    hi = config.end_ms - _HORIZON_MS
    by_cat: dict[str, list[int]] = {}
    for o, delivered in delivered_at.items():
        if delivered < hi:
            hit = first_outcome.get(o, 1 << 62) <= delivered + _HORIZON_MS
            counts = by_cat.setdefault(category[o], [0, 0])
            counts[0] += int(hit)
            counts[1] += 1
    run = {
        "facts": facts,
        "scorer_us_per_fact": scorer_s / max(facts, 1) * 1e6,
        "customers_tracked": len(shard.scorer.customers),
        "open_orders": len(shard.scorer.orders),
    }
    per_window = []
    for first_day, last_day in windows:
        lo = config.start_ms + first_day * _DAY_MS
        end = min(hi, config.start_ms + last_day * _DAY_MS)
        per_window.append(
            [o for o, t in delivered_at.items() if lo <= t < end and o in sim.true_risk]
        )
    bounds = propensity_bound(
        sim, delivered_at, first_outcome, [o for ids in per_window for o in ids]
    )
    out = []
    for ids in per_window:
        labels = np.array(
            [
                1 if first_outcome.get(o, 1 << 62) <= delivered_at[o] + _HORIZON_MS else 0
                for o in ids
            ]
        )
        scores = np.array([delivered_score[o] for o in ids])
        oracle = np.array([sim.true_risk[o] for o in ids])
        cat_rate = np.array([by_cat[category[o]][0] / by_cat[category[o]][1] for o in ids])
        bound = np.array([bounds[o] for o in ids])
        out.append(_figures(ids, labels, scores, oracle, cat_rate, bound))
    return run, out


def propensity_bound(
    sim: Simulation,
    delivered_at: dict[str, int],
    first_outcome: dict[str, int],
    ids: list[str],
) -> dict[str, float]:
    """Per order of ``ids``, the oracle's probability with the customer's propensity
    ``t`` replaced by its posterior mean given the 30-day outcomes of the customer's
    earlier deliveries (module docstring). The prior is the histogram of the
    propensities the simulator drew; an order's likelihood is its true probability
    ``1 - (1 - min(k * t, 0.9)) * (1 - c)`` with ``k, c`` from ``Simulation.risk_parts``.
    """
    drawn = sim.orders.propensity
    assert drawn is not None, "needs risk_drivers > 0"
    counts, edges = np.histogram(np.log(drawn), bins=120)
    grid = np.exp((edges[:-1] + edges[1:]) / 2)
    prior = np.log(np.maximum(counts / counts.sum(), 1e-300))
    wanted = set(ids)
    history: dict[int, list[tuple[int, str]]] = {}
    for order_id, at in delivered_at.items():
        parts = sim.risk_parts.get(order_id)
        if parts is not None:
            history.setdefault(parts[2], []).append((at, order_id))
    bound: dict[str, float] = {}
    for customer, orders in history.items():
        own = customer < len(drawn)
        loglik = prior.copy()
        for at, order_id in sorted(orders):
            known, complaint, _ = sim.risk_parts[order_id]
            p = 1 - (1 - np.minimum(known * grid, 0.9)) * (1 - complaint)
            if order_id in wanted:
                if own:
                    post = np.exp(loglik - loglik.max())
                    bound[order_id] = float((post * p).sum() / post.sum())
                else:  # a B2B account: propensity 1, known
                    bound[order_id] = 1 - (1 - min(known, 0.9)) * (1 - complaint)
            hit = first_outcome.get(order_id, 1 << 62) <= at + _HORIZON_MS
            loglik += np.log(p) if hit else np.log1p(-p)
    return bound


def _figures(
    ids: list[str],
    labels: np.ndarray,
    scores: np.ndarray,
    oracle: np.ndarray,
    cat_rate: np.ndarray,
    bound: np.ndarray,
) -> dict[str, float]:
    return {
        "orders_evaluated": len(ids),
        "positive_rate": float(labels.mean()),
        "auc_scorer": auc(scores, labels),
        "auc_category": auc(cat_rate, labels),
        "auc_oracle": auc(oracle, labels),
        "auc_bound": auc(bound, labels),
        "lift_scorer": top_decile_lift(scores, labels),
        "lift_category": top_decile_lift(cat_rate, labels),
        "lift_oracle": top_decile_lift(oracle, labels),
    }


def memory_per_customer(n: int, *, with_address: bool = False) -> float:
    """Bytes per tracked customer: ``n`` customers, one order each to their own address,
    then a fact 61 days later: the orders (never delivered) are dropped after 60 days, and
    so are the addresses (60 days idle) unless ``with_address`` keeps them (90 days)."""
    gc.collect()
    tracemalloc.start()
    scorer = RiskScorer(address_idle_ms=(90 if with_address else 60) * _DAY_MS)
    base = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        cid = f"C-{i:09d}"
        scorer.apply(
            RiskFact(
                i,
                f"O{i}:placed",
                "placed",
                f"O-{i:09d}",
                cid,
                f"S-{i % 2000}",
                "apparel",
                "north",
                "dhl",
                f"A-{i:09d}",
                40.0,
                1,
            )
        )
    scorer.apply(RiskFact(n + 61 * _DAY_MS, "end", "placed", "O-end", None))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--orders-per-day", type=float, default=2_000)
    parser.add_argument("--customers", type=int, default=4_000)
    parser.add_argument(
        "--windows",
        default="25-30,45-60",
        help="evaluation windows, days of delivery FIRST-LAST, comma-separated",
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--drivers", type=float, default=1.0)
    parser.add_argument("--memory-customers", type=int, default=100_000)
    parser.add_argument("--out", default=None, help="results file (default: none)")
    args = parser.parse_args()
    config = replace(
        SimulationConfig(seed=args.seed),
        duration=timedelta(days=args.days),
        orders_per_day=args.orders_per_day,
        n_customers=args.customers,
        risk_drivers=args.drivers,
    )
    windows = [(int(a), int(b)) for a, b in (w.split("-") for w in args.windows.split(","))]
    began = time.perf_counter()
    run, per_window = evaluate(config, windows)
    lines = [
        f"# risk benchmark  {machine()}",
        (
            f"scenario: seed {args.seed}, {args.days} days, {args.orders_per_day:.0f} "
            f"orders/day, {args.customers} customers, risk_drivers {args.drivers}"
        ),
    ]
    for (first_day, last_day), fig in zip(windows, per_window, strict=True):
        lines += [
            (
                f"-- delivered on days {first_day}..{last_day}: {fig['orders_evaluated']} orders, "
                f"positive rate {fig['positive_rate']:.3f}"
            ),
            (
                f"AUC  scorer {fig['auc_scorer']:.4f}  category {fig['auc_category']:.4f}"
                f"  oracle {fig['auc_oracle']:.4f}"
            ),
            (
                f"     scorer / oracle = {fig['auc_scorer'] / fig['auc_oracle']:.3f} "
                f"(target >= 0.97); scorer - category = "
                f"{fig['auc_scorer'] - fig['auc_category']:+.4f} (target >= +0.03)"
            ),
            (
                f"     bound {fig['auc_bound']:.4f} = {fig['auc_bound'] / fig['auc_oracle']:.3f} "
                f"x oracle (no scorer that learns the customers can pass it); "
                f"scorer / bound = {fig['auc_scorer'] / fig['auc_bound']:.3f}"
            ),
            (
                f"top-decile lift  scorer {fig['lift_scorer']:.2f}  category "
                f"{fig['lift_category']:.2f}  oracle {fig['lift_oracle']:.2f}"
            ),
        ]
    lines += [
        (
            f"scorer cost: {run['scorer_us_per_fact']:.1f} us per fact "
            f"({run['facts']} facts, shard included); customers tracked "
            f"{run['customers_tracked']}, open orders {run['open_orders']}"
        ),
        f"run time {time.perf_counter() - began:.0f} s",
    ]
    if args.memory_customers:
        per = memory_per_customer(args.memory_customers)
        with_address = memory_per_customer(args.memory_customers, with_address=True)
        lines.append(
            f"memory: {per:.0f} bytes per tracked customer, {with_address:.0f} with its "
            f"own address, at {args.memory_customers} customers; 1M customers with "
            f"theirs ~ {with_address * 1e6 / 2**20:.0f} MiB"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        (RESULTS / args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
