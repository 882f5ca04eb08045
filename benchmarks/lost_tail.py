"""Lost-parcel flags on transit times with thin and heavy tails: three deadline policies.

``lost_parcel`` flags a parcel still undelivered ``lost_after`` (1.9) x its cell's p90
transit after it shipped. On a carrier whose transit times have a heavy tail, parcels
keep arriving after any fixed multiple of the p90, and each was flagged lost first.
This feeds one :class:`~streams.pipeline.order_state.OrderBook` synthetic shipments
(8 cells, ``--per-day`` parcels a day, lognormal transit with medians 30-62 h and log-sd
``sigma``; ``--lost`` of them never arrive) for ``--days`` days, reads its verdicts every
15 minutes of event time, and prints per sigma, after a 10-day warm-up:

- **false flags**: parcels flagged lost that were then delivered, per day and per
  10,000 deliveries;
- **lost found**: never-delivered parcels flagged (of those shipped early enough for
  3 x the true p90 to pass before the run ends), how many within 2 x the true p90 of
  the cell's transit (issue 12 asks for all), and the longest time to the flag in such
  units;

for the fixed deadline (``TAIL_RUNGS`` reduced to its first rung, every overdue parcel
reported at once), the tail-aware one (``lost_alone`` 1) and the shipped one (tail-aware,
and a lone overdue parcel waits 1.5 x its deadline unless others of its cell
corroborate it), in the same run on the same parcels. These lost parcels are
independent (0.1 % of every cell's parcels, not a wave), the case corroboration
cannot help. Pure Python, no Kafka, about a
minute. Run: ``.venv/bin/python benchmarks/lost_tail.py [--days 28] [--per-day 9000]``.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.contract.events import OrderEvent
from streams.pipeline.order_state import OrderBook

_HOUR = 3_600_000
_DAY = 24 * _HOUR
_STEP = 15 * 60_000
_WARMUP_DAYS = 10
_CELLS = 8
#: Lost parcels are scored when shipped early enough for this many true p90s to pass
#: before the run ends (a lone one is reported at 1.5 x 1.9 = 2.85 p90s of its cell).
_SCORED_P90S = 3.0
#: The policies compared: name, tail-aware rungs, ``lost_alone``.
_DEADLINES: tuple[tuple[str, bool, float], ...] = (
    ("fixed", False, 1.0),
    ("tail-aware", True, 1.0),
    ("shipped", True, 1.5),
)
_Z90 = 1.2815515655446004
_MEDIAN_H = 30.0


@dataclass
class Outcome:
    """What one deadline policy flagged on one sigma's parcels."""

    false_flags: int = 0
    lost_flagged: int = 0
    lost_total: int = 0
    worst_p90s: float = 0.0
    within_2: int = 0
    deliveries: int = 0


def _events(
    rng: np.random.Generator, days: int, per_day: int, sigma: float, lost: float
) -> tuple[list[tuple[int, int, int, int]], dict[int, float], set[int]]:
    """``(ts, kind, order, cell)`` sorted by time (kind 0 shipped, 1 delivered), each
    cell's true p90 in hours and the parcels that never arrive."""
    n = days * per_day
    shipped = np.sort(rng.integers(0, days * _DAY, n))
    cell = rng.integers(0, _CELLS, n)
    median_h = _MEDIAN_H * (1.0 + 0.15 * cell)
    transit = median_h * rng.lognormal(0.0, sigma, n)
    never = rng.random(n) < lost
    out = [(int(t), 0, i, int(c)) for i, (t, c) in enumerate(zip(shipped, cell, strict=True))]
    out += [
        (int(shipped[i] + transit[i] * _HOUR), 1, i, int(cell[i])) for i in range(n) if not never[i]
    ]
    out.sort()
    p90 = {c: _MEDIAN_H * (1.0 + 0.15 * c) * math.exp(_Z90 * sigma) for c in range(_CELLS)}
    return out, p90, {int(i) for i in np.flatnonzero(never)}


def run(
    sigma: float, *, tail_aware: bool, alone: float, days: int, per_day: int, lost: float
) -> Outcome:
    """Replay one sigma's parcels through an order book; score its lost verdicts."""
    rng = np.random.default_rng([7, round(sigma * 100)])
    events, true_p90, never = _events(rng, days, per_day, sigma, lost)
    book = OrderBook(
        max_orders=10**7,
        ttl_ms=60 * _DAY,
        keep_done_ms=60 * _DAY,
        lost_factor=1.9,
        lost_alone=alone,
    )
    if not tail_aware:
        book.transit.rungs = book.transit.rungs[:1]
    flagged: dict[int, int] = {}
    shipped_at: dict[int, int] = {}
    cell_of: dict[int, int] = {}
    delivered: set[int] = set()
    next_check = _STEP
    out = Outcome()

    def never_due(order: int, ship: int) -> bool:
        return ship + _SCORED_P90S * true_p90[cell_of[order]] * _HOUR > last

    warm, last = _WARMUP_DAYS * _DAY, days * _DAY
    for ts, kind, order, cell in events:
        if ts >= last:  # the stream ends here; later deliveries are never seen
            break
        while ts >= next_check:
            for parcel in book.due_lost(next_check):
                flagged[int(parcel.order_id)] = parcel.due_ms
            next_check += _STEP
        status = "shipped" if kind == 0 else "delivered"
        book.observe(
            OrderEvent(f"{order}:{status}", ts, str(order), status, carrier=f"C{cell}", region="R")  # type: ignore[arg-type]
        )
        if kind == 0:
            shipped_at[order] = ts
            cell_of[order] = cell
        else:
            delivered.add(order)
            if ts >= warm:
                out.deliveries += 1
                if order in flagged:
                    out.false_flags += 1
    for order, ship in shipped_at.items():
        # Scored: never delivered, and shipped early enough for 2 x p90 to pass in the run.
        if order not in never or ship < warm or never_due(order, ship):
            continue
        out.lost_total += 1
        due = flagged.get(order)
        if due is not None:
            out.lost_flagged += 1
            took = (due - ship) / _HOUR / true_p90[cell_of[order]]
            out.worst_p90s = max(out.worst_p90s, took)
            out.within_2 += took <= 2.0
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--per-day", type=int, default=9000)
    parser.add_argument("--lost", type=float, default=0.001, help="share never delivered")
    parser.add_argument("--sigmas", default="0.3,0.5,0.7")
    args = parser.parse_args()
    scored_days = args.days - _WARMUP_DAYS
    print(
        f"# {args.per_day:,} parcels/day over {_CELLS} cells, {args.days} days "
        f"({_WARMUP_DAYS}-day warm-up), {args.lost:.1%} never delivered, lost_after 1.9"
    )
    print(
        f"{'sigma':>5} {'deadline':>10} {'false/day':>9} {'per 10k':>8} {'lost found':>11} "
        f"{'by 2 p90s':>9} {'worst flag (true p90s)':>22}"
    )
    for sigma in (float(s) for s in args.sigmas.split(",")):
        for name, tail_aware, alone in _DEADLINES:
            o = run(
                sigma,
                tail_aware=tail_aware,
                alone=alone,
                days=args.days,
                per_day=args.per_day,
                lost=args.lost,
            )
            print(
                f"{sigma:5.2f} {name:>10} "
                f"{o.false_flags / scored_days:9.2f} "
                f"{1e4 * o.false_flags / max(o.deliveries, 1):8.2f} "
                f"{o.lost_flagged:>5}/{o.lost_total:<5} {o.within_2:>9} {o.worst_p90s:22.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
