"""False episodes of the customer and address rules on normal traffic (issue 13).

Simulates ``--days`` (default 14) of incident-free traffic with the realistic busy
entities of the quality matrix (25 pick-up points with 5 % of orders, 10 B2B accounts
with 1 %), replays it through the live pipeline (:class:`streams.pipeline.replay.ReplayPipeline`)
with only ``frequent_returner`` and ``shared_address`` enabled (the shipped settings), and
counts their episodes: every one is false, there is no incident. Per rule it prints the
episodes, the false episodes per day over the days after the rules' warm-up (``--warmup-days``,
default 2) and the target (<= 0.1 a day).

Run: ``.venv/bin/python benchmarks/customer_rules.py [--seeds 1 2] [--scales 1 3]
[--days 14]``; the scale multiplies the simulator's 20,000 orders a day.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.dev.simulator import Simulation, SimulationConfig  # noqa: E402
from streams.pipeline.replay import ReplayPipeline  # noqa: E402
from streams.rules.catalogue import RuleSet, parse_rules  # noqa: E402

RULES = ("frequent_returner", "shared_address")
MS_PER_DAY = 86_400_000
TARGET_PER_DAY = 0.1


def shipped_rules() -> RuleSet:
    """The shipped rules file with only the two customer/address rules enabled."""
    document = tomllib.loads(
        resources.files("streams").joinpath("default_rules.toml").read_text(encoding="utf-8")
    )
    document["rules"] = {k: v for k, v in document["rules"].items() if k in RULES}
    return parse_rules(document)


def _records(sim: Simulation) -> Iterator[tuple[str, bytes, bytes]]:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for event in sim.events():
        if event.topic == "orders":  # the two rules read orders only
            yield event.topic, event.key.encode(), dumps(event.value).encode()


def run(seed: int, scale: float, days: float, warmup_days: float) -> dict[str, Any]:
    """One simulated run; returns the episodes per rule and the false rate per day."""
    config = SimulationConfig(
        seed=seed,
        duration=timedelta(days=days),
        orders_per_day=20_000.0 * scale,
        pickup_points=25,
        pickup_share=0.05,
        b2b_customers=10,
        b2b_share=0.01,
    )
    sim = Simulation(config)
    pipeline = ReplayPipeline(shipped_rules())
    began = time.perf_counter()
    firing = [a for a in pipeline.run(_records(sim)) if a.status == "firing"]
    seconds = time.perf_counter() - began
    counted_from = config.start_ms + int(warmup_days * MS_PER_DAY)
    evaluated_days = days - warmup_days
    out: dict[str, Any] = {
        "seed": seed,
        "scale": scale,
        "orders_per_day": 20_000 * scale,
        "days": days,
        "evaluated_days": evaluated_days,
        "events": pipeline.lines,
        "seconds": round(seconds, 1),
        "rules": {},
    }
    for rule in RULES:
        episodes = sorted(
            {(a.key, int(a.started_at.timestamp() * 1000)) for a in firing if a.rule == rule}
        )
        counted = [e for e in episodes if e[1] >= counted_from]
        out["rules"][rule] = {
            "episodes": len(episodes),
            "counted": len(counted),
            "per_day": round(len(counted) / evaluated_days, 3),
            "keys": [key for key, _ in counted][:10],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--warmup-days", type=float, default=2.0)
    parser.add_argument(
        "--out", type=Path, default=None, help="write the figures as JSON here as well"
    )
    args = parser.parse_args(argv)
    results = []
    worst = 0.0
    print(
        f"{'seed':>4} {'scale':>5} {'orders/day':>10} {'days':>5}  "
        + "  ".join(f"{rule + ' eps (/day)':>28}" for rule in RULES)
        + "  replay s"
    )
    for scale in args.scales:
        for seed in args.seeds:
            result = run(seed, scale, args.days, args.warmup_days)
            results.append(result)
            cells = []
            for rule in RULES:
                figures = result["rules"][rule]
                worst = max(worst, figures["per_day"])
                cells.append(f"{figures['counted']:>20} ({figures['per_day']:.3f})")
            print(
                f"{seed:>4} {scale:>5g} {result['orders_per_day']:>10,.0f} "
                f"{result['evaluated_days']:>5g}  "
                + "  ".join(cells)
                + f"  {result['seconds']:>8}",
                flush=True,
            )
    verdict = "met" if worst <= TARGET_PER_DAY else "MISSED"
    print(f"worst false episodes per day: {worst:.3f} (target <= {TARGET_PER_DAY}: {verdict})")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0 if worst <= TARGET_PER_DAY else 1


if __name__ == "__main__":
    sys.exit(main())
