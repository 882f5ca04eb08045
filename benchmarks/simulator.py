"""Simulator speed and volume at default scale: events/s generated and per simulated day.

Run: ``.venv/bin/python benchmarks/simulator.py [--days 3] [--orders-per-day 20000]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from streams.dev.simulator import Simulation, SimulationConfig, write_events_file


def main() -> None:
    """Print generation and JSONL-writing throughput and events per day by topic."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--orders-per-day", type=float, default=20_000.0)
    args = parser.parse_args()
    config = SimulationConfig(
        seed=1, duration=timedelta(days=args.days), orders_per_day=args.orders_per_day
    )

    began = time.perf_counter()
    topics: Counter[str] = Counter()
    for event in Simulation(config).events():
        topics[event.topic] += 1
    generate_s = time.perf_counter() - began
    total = sum(topics.values())
    print(
        f"generate: {total:,} events over {args.days:g} days in {generate_s:.2f} s "
        f"= {total / generate_s:,.0f} events/s "
        f"({generate_s / args.days:.2f} s per simulated day, "
        f"incl. {config.warmup.days}-day warm-up)"
    )
    for topic, count in sorted(topics.items()):
        print(f"  {topic:<11} {count / args.days:>10,.0f} per day")
    print(f"  {'total':<11} {total / args.days:>10,.0f} per day")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        began = time.perf_counter()
        written = write_events_file(Simulation(config).events(), path)
        write_s = time.perf_counter() - began
        size = os.path.getsize(path)
    print(
        f"jsonl:    {written:,} lines, {size / 1e6:,.0f} MB in {write_s:.2f} s "
        f"= {written / write_s:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
