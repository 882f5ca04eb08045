"""Worker throughput against a raw aiokafka consumer and a minimal Faust agent.

Pre-loads realistic simulated traffic into the embedded broker (4 partitions per topic),
then, each with its own consumer group reading from the start:

1. a raw aiokafka consumer (``getmany`` + ``json.loads``), the ceiling;
2. one :class:`~streams.runtime.worker.Worker` with the shipped rule catalogue, measured from
   ``aftersales_events_total`` until its closers received every partial (end to end). It
   gets the same traffic on its own topics, produced at full speed once it holds its
   partitions: encoded beforehand, so that only sending shares the CPU (and the closer's
   event loop) for the first seconds;
3. a minimal Faust agent that only decodes (``benchmarks/faust_decode.py``).

With ``--without-risk``, 2 runs a second time on topics of its own with
``AFTERSALES_RISK_SCORE=false``: the risk score's cost as a same-run ratio. With
``--without-rules NAMES``, once more with the shipped rules minus those rules (comma-
separated): their cost, same run.

Rates are events/s from the first to the last event observed. Run:
``.venv/bin/python benchmarks/throughput.py [--days 3.5] [--skip-faust] [--without-risk]
[--without-rules NAMES]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.metrics import AlertMetrics
from benchmarks._common import Report, create_topics, rss_bytes, settings_for, traffic
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker, terminate
from streams.dev.simulator.kafka import EncodedEvent, encode_event, produce_events
from streams.rules.catalogue import RuleSet, load_rules, parse_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker

_TIMEOUT_S = 600.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events_total(metrics: AlertMetrics) -> float:
    """Sum of ``aftersales_events_total`` over all topics and outcomes.

    Reads the counter alone: ``registry.collect()`` would also run the per-series
    collector, which is far too dear to poll every 20 ms.
    """
    return sum(
        sample.value
        for metric in metrics.events_total.collect()
        for sample in metric.samples
        if sample.name == "aftersales_events_total"
    )


async def raw_consumer(bootstrap: str, prefix: str, expected: int) -> tuple[float, int]:
    """Events/s of getmany + json.loads over the input topics; returns (rate, count)."""
    consumer = AIOKafkaConsumer(
        *(f"{prefix}{t}" for t in TOPICS),
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}raw",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1_048_576,
        max_partition_fetch_bytes=64 * 1_048_576,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        rebalance_timeout_ms=6000,
    )
    await consumer.start()
    count = first_count = 0
    first_s = last_s = 0.0
    deadline = time.monotonic() + _TIMEOUT_S
    loads = json.loads
    try:
        while count < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for messages in batches.values():
                for message in messages:
                    loads(message.value)
                count += len(messages)
            if count and not first_count:
                first_count, first_s = count, time.perf_counter()
        last_s = time.perf_counter()
    finally:
        await consumer.stop()
    return (count - first_count) / max(last_s - first_s, 1e-9), count


async def worker_run(
    bootstrap: str,
    prefix: str,
    events: list[EncodedEvent],
    intake_processes: int | None = None,
    risk_score: bool = True,
    rules: RuleSet | None = None,
) -> tuple[float, int, float, int, int]:
    """Start one in-process worker, then load ``events`` into its own topics at full speed
    and run until it counted them all and its closers received every partial.

    Traffic goes in only once the worker (with all its intake processes) holds its
    partitions: a rebalance in the middle of the backlog would process part of it twice
    (at-least-once) and inflate the count.

    Returns (events/s from the first counted event until the closers received every
    partial, events counted, seconds the closers needed after the intake's last event,
    alerts published, RSS growth in bytes).
    """
    await create_topics(settings_for(bootstrap, prefix))
    expected = len(events)
    extra = (
        {} if intake_processes is None else {"AFTERSALES_INTAKE_PROCESSES": str(intake_processes)}
    )
    if not risk_score:
        extra["AFTERSALES_RISK_SCORE"] = "false"
    settings = settings_for(bootstrap, prefix, **extra)
    registry = CollectorRegistry()
    metrics = AlertMetrics.create(registry, topics=TOPICS)
    rules = load_rules(None) if rules is None else rules
    worker = Worker(settings, rules, metrics, create_input_topics=False)
    rss0 = rss_bytes()
    task = asyncio.create_task(worker.run())
    first_count = 0.0
    first_s = last_s = 0.0
    count = 0.0
    try:
        await asyncio.wait_for(worker.started.wait(), 120)
        await asyncio.sleep(2.0)  # let the last join's rebalance settle
        producing = asyncio.create_task(produce_events(events, bootstrap, prefix))
        deadline = time.monotonic() + _TIMEOUT_S
        while count < expected and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.02)
            count = events_total(metrics)
            if count and not first_count:
                first_count, first_s = count, time.perf_counter()
        intake_s = time.perf_counter()
        # End to end: the closers must have received every partial the intake sent
        # (the partials topic's high-water mark is not trustworthy on tansu).
        while (
            worker.partials_received < worker.partials_sent
            and time.monotonic() < deadline
            and not task.done()
        ):
            await asyncio.sleep(0.02)
        last_s = time.perf_counter()
        drain_s = last_s - intake_s
        rss = rss_bytes() + sum(rss_bytes(pid) for pid in worker.intake_pids) - rss0
        await producing
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    rate = (count - first_count) / max(last_s - first_s, 1e-9)
    return rate, int(count), drain_s, worker.alerts_published, rss


def faust_run(bootstrap: str, prefix: str, expected: int) -> tuple[float, int]:
    """Run the minimal Faust agent as a subprocess; returns (events/s, count)."""
    script = Path(__file__).with_name("faust_decode.py")
    env = {**os.environ, "PYTHONPATH": str(script.parent.parent)}
    with tempfile.TemporaryDirectory() as datadir:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                bootstrap,
                prefix,
                str(expected),
                str(free_port()),
                datadir,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,
        )
        try:
            result = None
            deadline = time.monotonic() + _TIMEOUT_S
            assert proc.stdout is not None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                if '{"first_s"' in line:  # Faust routes print() through its logger
                    result = json.loads(line[line.index('{"first_s"') :].strip())
                    break
        finally:
            terminate(proc, 15)
    if result is None:
        return float("nan"), 0
    span = result["last_s"] - result["first_s"]
    return (result["count"] - result["first_count"]) / max(span, 1e-9), result["count"]


def rules_without(names: list[str]) -> RuleSet:
    """The shipped rules file without the rules ``names`` (each must be in it)."""
    text = resources.files("streams").joinpath("default_rules.toml").read_text("utf-8")
    document = tomllib.loads(text)
    for name in names:
        del document["rules"][name]
    return parse_rules(document)


async def main_async(args: argparse.Namespace, report: Report) -> None:
    """Pre-load traffic, then run the three consumers one after the other."""
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        prefix = "bench."
        await create_topics(settings_for(bootstrap, prefix))
        began = time.perf_counter()
        events = [encode_event(event) for event in traffic(args.days)]
        generate_s = time.perf_counter() - began
        counts = await produce_events(events, bootstrap, prefix)
        total = sum(counts.values())
        report.line(
            f"traffic: {total:,} events, {args.days:g} simulated days, 4 partitions "
            f"per topic ({', '.join(f'{t}={n:,}' for t, n in sorted(counts.items()))}); "
            f"generated and encoded in {generate_s:.1f} s"
        )
        raw_rate, raw_n = await raw_consumer(bootstrap, prefix, total)
        report.line(
            f"raw aiokafka getmany+json.loads: {raw_rate:>10,.0f} events/s ({raw_n:,} events)"
        )
        rate, n, drain_s, alerts, rss = await worker_run(
            bootstrap, "benchw.", events, args.intake_processes
        )
        # Same traffic, topics of their own: (label, topic prefix, worker_run options).
        variants: list[tuple[str, str, dict[str, Any]]] = []
        if args.without_risk:
            variants.append(("the risk score", "benchn.", {"risk_score": False}))
        if args.without_rules:
            names = args.without_rules.split(",")
            variants.append((args.without_rules, "benchr.", {"rules": rules_without(names)}))
        without = [
            (label, await worker_run(bootstrap, prefix, events, args.intake_processes, **options))
            for label, prefix, options in variants
        ]
        del events
        processes = (
            args.intake_processes
            if args.intake_processes is not None
            else Settings().intake_processes
        )
        report.line(
            f"worker (all {len(load_rules(None).rules)} shipped rules): {rate:>10,.0f} "
            f"events/s end to end ({n:,} events counted; {processes} intake processes; "
            f"closers caught up {drain_s:.1f} s after the last event; {alerts:,} "
            f"alerts; RSS +{rss / 1_048_576:.0f} MiB)"
        )
        for label, (rate_v, n_v, drain_v, _, rss_v) in without:
            report.line(
                f"worker without {label}: {rate_v:>10,.0f} events/s end to end "
                f"({n_v:,} events counted; closers caught up {drain_v:.1f} s after the last "
                f"event; RSS +{rss_v / 1_048_576:.0f} MiB)"
            )
        faust_rate, faust_n = (
            (float("nan"), 0) if args.skip_faust else faust_run(bootstrap, prefix, total)
        )
        report.line(
            f"faust agent decode only:         {faust_rate:>10,.0f} events/s ({faust_n:,} events)"
        )
        report.line(f"ratio worker/raw   = {rate / raw_rate:.3f}")
        for label, result in without:
            report.line(f"ratio worker without {label}/raw = {result[0] / raw_rate:.3f}")
        report.line(f"ratio worker/faust = {rate / faust_rate:.2f}   (target >= 3)")
        report.line(f"target worker >= 20,000 events/s: {'met' if rate >= 20_000 else 'NOT met'}")


def main() -> None:
    """Parse arguments, run, save the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=3.5)
    parser.add_argument("--skip-faust", action="store_true")
    parser.add_argument(
        "--intake-processes",
        type=int,
        default=None,
        help="AFTERSALES_INTAKE_PROCESSES for the worker (default: its default)",
    )
    parser.add_argument(
        "--without-risk",
        action="store_true",
        help="also run the worker with AFTERSALES_RISK_SCORE=false (same traffic, same run)",
    )
    parser.add_argument(
        "--without-rules",
        default="",
        metavar="NAMES",
        help="also run the worker with the shipped rules minus these (comma-separated)",
    )
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    report = Report("throughput")
    asyncio.run(main_async(args, report))
    if not args.no_save:
        report.save()


if __name__ == "__main__":
    main()
