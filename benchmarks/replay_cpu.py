"""Replay CPU per 100k events of the benchmarks' simulated shop, and the partials stage 1 ships.

Generates ``--days`` of :func:`benchmarks._common.traffic` first (not timed), then
replays it in this process with the shipped rules (``ReplayPipeline``, 4 partitions) and
prints the process CPU seconds per 100,000 events, with the risk score (``risk=on``) or
without it (``risk=off``: no risk facts are made). It also counts the sealed partials
stage 1 hands to the closers per rule, which is deterministic. ``PYTHONPATH=DIR`` picks
the tree to measure; run two trees alternately to compare them::

    PYTHONPATH=/path/to/a python benchmarks/replay_cpu.py --days 2 --risk off
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import traffic
from streams.logs import configure_logging
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules
from streams.runtime.gc_tuning import tune_gc


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--risk", choices=("on", "off"), default="on")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    records = [
        (event.topic, event.key.encode(), json.dumps(event.value).encode())
        for event in traffic(args.days, seed=args.seed)
    ]
    pipeline = ReplayPipeline(load_rules(None))
    pipeline.stage1.risk = args.risk == "on"  # off: events make no risk facts
    tune_gc()  # as ``aftersales replay`` and the worker do
    began, wall = time.process_time(), time.perf_counter()
    alerts = sum(1 for _ in pipeline.run(records))
    cpu = time.process_time() - began
    wall = time.perf_counter() - wall
    print(
        f"{args.label:12s} risk={args.risk:3s} events={len(records)} alerts={alerts} "
        f"partials={sum(pipeline.stage1.sealed.values())} cpu={cpu:.1f}s wall={wall:.1f}s "
        f"cpu_per_100k={cpu / len(records) * 100_000:.2f}s"
    )
    top = ", ".join(f"{rule}={n}" for rule, n in pipeline.stage1.sealed.most_common(4))
    print(f"{'':12s} partials by rule: {top}")


if __name__ == "__main__":
    main()
