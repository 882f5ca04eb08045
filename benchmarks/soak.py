"""Soak: a worker under steady load for minutes, memory and lag sampled every 10 s.

Starts the embedded broker and an ``aftersales worker`` process, then produces
simulated traffic at a fixed rate (events/s, default 80 % of a measured sustained
rate you pass with ``--rate``) for ``--minutes``. Every ``--every`` seconds it
prints the worker's resident memory, the summed consumer lag and the events
processed. Flat memory and flat lag are the pass criteria a person reads off
the table; nothing here asserts.

    .venv/bin/python benchmarks/soak.py --rate 2000 --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, tree_rss_bytes
from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.kafka import produce_events
from streams.logs import configure_logging

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the intake process) in MiB."""
    try:
        return tree_rss_bytes(pid) / 1_048_576
    except OSError:
        return float("nan")


def ready(port: int) -> bool:
    """The worker answers /health with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def scrape(port: int) -> tuple[float, float]:
    """(summed consumer lag, events processed) from the worker's /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return float("nan"), float("nan")
    lag = events = 0.0
    for line in text.splitlines():
        if line.startswith("aftersales_consumer_lag{"):
            lag += float(line.rsplit(" ", 1)[1])
        elif line.startswith("aftersales_events_total{"):
            events += float(line.rsplit(" ", 1)[1])
    return lag, events


async def feed(bootstrap: str, rate: float, seconds: float) -> int:
    """Produce simulated events at ``rate`` per second for ``seconds``; return the count."""
    # The default shop makes ~114k events a simulated day: simulate enough days for the run.
    days = max(60, math.ceil(rate * seconds / 100_000) + 5)
    config = SimulationConfig(
        seed=11, start=datetime(2026, 11, 2, tzinfo=UTC), duration=timedelta(days=days)
    )
    events = simulate(config)
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        chunk = list(itertools.islice(events, int(rate)))
        if not chunk:
            break
        await produce_events(chunk, bootstrap)
        sent += len(chunk)
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=2_000.0, help="events per second")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=10.0, help="sampling period, seconds")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-soak.txt",
        help="also write the table here (default: results/<date>-soak.txt)",
    )
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    lines: list[str] = []

    def emit(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    # The worker runs in a temporary directory: Faust keeps its data directory there.
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_WEB_PORT": str(port),
            "AFTERSALES_WEB_HOST": "127.0.0.1",
            "AFTERSALES_LOG_FORMAT": "json",
            "AFTERSALES_LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "worker"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not ready(port):
                time.sleep(0.5)
            emit(
                f"soak: rate {args.rate:,.0f} ev/s for {args.minutes:g} min, "
                f"sampling every {args.every:g} s ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
                f"nproc={os.cpu_count()})"
            )
            emit(f"{'t (s)':>6} {'rss (MiB)':>10} {'lag (records)':>14} {'events':>10}")
            loop = asyncio.new_event_loop()
            producer = loop.create_task(
                feed(broker.bootstrap_servers, args.rate, args.minutes * 60)
            )
            started = time.monotonic()
            while not producer.done():
                loop.run_until_complete(asyncio.wait([producer], timeout=args.every))
                lag, events = scrape(port)
                emit(
                    f"{time.monotonic() - started:6.0f} {rss_mib(worker.pid):10.1f} "
                    f"{lag:14,.0f} {events:10,.0f}"
                )
            emit(f"produced {producer.result():,} events")
            loop.close()
        finally:
            terminate(worker, 30)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
