"""``aftersales replay`` throughput on a two-week simulated file.

Runs the real CLI twice as subprocesses: ``aftersales simulate --scenario default`` for
``--days`` days into a temporary JSONL file, then ``aftersales replay`` over it (all shipped
rules, 4 partitions). Prints events/s from the replay's own ``replay_done`` log line, from
wall time and per CPU second of the replay process. The CLI runs the ``streams`` that
``PYTHONPATH`` names first, so ``PYTHONPATH=DIR`` times another checkout's code. Run:
``.venv/bin/python benchmarks/replay.py [--days 14]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import Report

_CLI = str(Path(sys.executable).with_name("aftersales"))
_TIMEOUT_S = 1_800


def _children_cpu_s() -> float:
    """User plus system CPU seconds of the finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Simulate, replay, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    report = Report("replay")
    env = {**os.environ, "AFTERSALES_LOG_FORMAT": "json"}
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        began = time.perf_counter()
        subprocess.run(
            [
                _CLI,
                "simulate",
                "--scenario",
                "default",
                "--days",
                f"{args.days:g}",
                "--out",
                str(events),
            ],
            check=True,
            env=env,
            timeout=_TIMEOUT_S,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        simulate_s = time.perf_counter() - began
        lines = sum(1 for _ in events.open("rb"))
        size_mb = events.stat().st_size / 1e6
        report.line(
            f"input: {lines:,} events, {args.days:g} simulated days (scenario default), "
            f"{size_mb:,.0f} MB; simulated in {simulate_s:.1f} s"
        )
        began = time.perf_counter()
        cpu_before = _children_cpu_s()
        done = subprocess.run(
            [_CLI, "replay", str(events), "--out", str(Path(tmp) / "a.jsonl")],
            check=True,
            env=env,
            timeout=_TIMEOUT_S,
            capture_output=True,
            text=True,
        )
        wall_s = time.perf_counter() - began
        cpu_s = _children_cpu_s() - cpu_before
        alerts = sum(1 for _ in (Path(tmp) / "a.jsonl").open("rb"))
    logged = None
    for line in (done.stderr + done.stdout).splitlines():
        if "replay_done" in line:
            try:
                logged = json.loads(line)
            except ValueError:
                match = re.search(r"events_per_second=(\d+)", line)
                logged = {"events_per_second": int(match.group(1))} if match else None
    report.line(
        f"replay: {lines / wall_s:,.0f} events/s wall incl. start-up "
        f"({wall_s:.1f} s, {alerts:,} alerts)"
    )
    report.line(
        f"replay: {lines / cpu_s:,.0f} events per CPU second (user+sys of the replay "
        f"process, {cpu_s:.1f} s; steadier than wall time on a shared machine)"
    )
    if logged:
        report.line(
            f"replay: {logged.get('events_per_second', 0):,} events/s as logged by "
            f"replay_done ({logged.get('seconds')} s, excl. start-up)"
        )
    if not args.no_save:
        report.save()


if __name__ == "__main__":
    main()
