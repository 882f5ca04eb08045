"""Event-to-alert latency (p50, p99) at a fraction of the sustained rate.

A worker subprocess (``aftersales worker``, shipped rules) first catches up on simulated
history pre-loaded into the embedded broker; then live traffic with incidents is produced
at ``--rate`` events/s (default: half the worker rate of the newest throughput result).
The alerts topic is read as it fills. Latency is measured against the alert record's
broker timestamp (the worker producer's CreateTime, same host clock):

* per-event rule (``order_outlier``, wrong-price orders): from the wall time the
  triggering order was produced;
* window rules: from window close, i.e. the wall time the watermark-advancing event was
  produced: the first moment every source (input partition) the rule reads had produced an
  event at or after ``window_end + lateness``.

Run: ``.venv/bin/python benchmarks/latency.py [--rate 2000] [--history-days 1.5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, Report, create_topics, encode, percentile, settings_for
from benchmarks.throughput import free_port
from streams.cli.demo import best_seller
from streams.dev.embedded_broker import EmbeddedBroker, terminate
from streams.dev.simulator import SimulationConfig, simulate
from streams.dev.simulator.incidents import CustomerBurst, WaitTimeSurge, WrongPrice
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import partition_for
from streams.rules.catalogue import load_rules

_START = datetime(2026, 11, 2, tzinfo=UTC)
#: The load generator sends what is due every this many seconds (one batch per partition).
_SLICE_S = 0.01
_CLI = str(Path(sys.executable).with_name("aftersales"))


def default_rate() -> float:
    """Half the worker rate of the newest throughput result, else 2,000 events/s."""
    for path in sorted(RESULTS.glob("*-throughput.txt"), reverse=True):
        match = re.search(r"^worker .*?:\s*([\d,]+) events/s", path.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1).replace(",", "")) / 2
    return 2_000.0


def scrape_events_total(port: int) -> float:
    """``aftersales_events_total`` summed, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("aftersales_events_total{")
    )


def parse_ms(text: str) -> int:
    """RFC 3339 to epoch ms."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def run(args: argparse.Namespace, report: Report) -> None:
    rules = load_rules(None)
    live_start = _START + timedelta(days=args.history_days)
    base = SimulationConfig(
        seed=3, start=_START, duration=timedelta(days=args.history_days, hours=args.live_hours)
    )
    sku = best_seller(base)
    config = replace(
        base,
        incidents=(
            WrongPrice(
                start=live_start + timedelta(hours=1),
                duration=timedelta(hours=8),
                sku=sku,
                magnitude=0.1,
            ),
            CustomerBurst(
                start=live_start + timedelta(hours=2),
                customer_id="C-0000007",
                address_id="A-0000007",
                magnitude=15.0,
            ),
            CustomerBurst(
                start=live_start + timedelta(hours=7),
                customer_id="C-0000011",
                address_id="A-0000011",
                magnitude=15.0,
            ),
            WaitTimeSurge(
                start=live_start + timedelta(hours=3),
                duration=timedelta(hours=4),
                queue="returns",
                magnitude=6.0,
            ),
        ),
    )
    events = list(simulate(config))
    live_ms = int(live_start.timestamp() * 1000)
    history = [e for e in events if e.ts_ms < live_ms]
    live = [e for e in events if e.ts_ms >= live_ms]
    # The worker runs in a temporary directory: Faust keeps its data directory there.
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="latency-") as workdir:
        bootstrap, prefix = broker.bootstrap_servers, "lat."
        await create_topics(settings_for(bootstrap, prefix))
        await produce_events(history, bootstrap, prefix)
        port = free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "AFTERSALES_TOPIC_PREFIX": prefix,
            "AFTERSALES_WEB_PORT": str(port),
            "AFTERSALES_WEB_HOST": "127.0.0.1",
            "AFTERSALES_LOG_LEVEL": "WARNING",
            "AFTERSALES_APP_ID": "lat-app",
            "AFTERSALES_LOG_FORMAT": "json",
        }
        worker = subprocess.Popen(
            [_CLI, "worker"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            await measure(args, report, rules, bootstrap, prefix, port, history, live, live_ms)
        finally:
            terminate(worker, 20)


async def measure(
    args: argparse.Namespace,
    report: Report,
    rules,
    bootstrap: str,
    prefix: str,
    port: int,
    history: list,
    live: list,
    live_ms: int,
) -> None:
    deadline = time.monotonic() + 900
    counted = 0.0
    while counted < len(history) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        with contextlib.suppress(OSError):
            counted = await asyncio.to_thread(scrape_events_total, port)
    await asyncio.sleep(args.settle)  # let the closer drain the history's partials
    report.line(
        f"history: {len(history):,} events ({args.history_days:g} days) caught up; "
        f"live: {len(live):,} events ({args.live_hours:g} h) at {args.rate:,.0f} events/s"
    )
    alerts: list[tuple[dict, float]] = []
    consumer = AIOKafkaConsumer(
        f"{prefix}alerts",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    stop = asyncio.Event()

    async def read_alerts() -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for messages in batch.values():
                alerts.extend((json.loads(m.value), m.timestamp / 1000) for m in messages)

    reader = asyncio.create_task(read_alerts())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    placed: dict[str, float] = {}
    progress: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    # The load generator must not compete with the worker for the two cores more than
    # it has to (producers run elsewhere in production; the throughput benchmark preloads):
    # values, keys and partitions are prepared up front, and each slice of due events goes
    # out as one explicit batch per partition, every ``_SLICE_S`` (send() per event cost
    # ~0.5 core).
    prepared = []
    for event in live:
        key = event.key.encode()
        placed_id = (
            event.value["order_id"]
            if event.topic == "orders" and event.value.get("status") == "placed"
            else None
        )
        prepared.append(
            (
                f"{prefix}{event.topic}",
                partition_for(key, 4),
                key,
                encode(event),
                placed_id,
                f"{event.topic}/{partition_for(key, 4)}",
                event.ts_ms,
            )
        )
    try:
        t0 = time.time()
        sent = 0
        while sent < len(prepared):
            now = time.time()
            due = min(len(prepared), int((now - t0) * args.rate) + 1)
            if due <= sent:
                await asyncio.sleep(_SLICE_S)
                continue
            batches: dict[tuple[str, int], Any] = {}
            for topic, partition, key, value, placed_id, source, ts_ms in prepared[sent:due]:
                batch = batches.get((topic, partition))
                if batch is None:
                    batch = batches[(topic, partition)] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    batch.close()
                    await producer.send_batch(batch, topic, partition=partition)
                    batch = batches[(topic, partition)] = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
                if placed_id is not None:
                    placed[placed_id] = now
                marks, walls = progress[source]
                if not marks or ts_ms > marks[-1]:
                    marks.append(ts_ms)
                    walls.append(now)
            for (topic, partition), batch in batches.items():
                batch.close()
                await producer.send_batch(batch, topic, partition=partition)
            sent = due
            await asyncio.sleep(_SLICE_S)
        await producer.flush()
        sent_s = time.time() - t0
        await asyncio.sleep(args.settle)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader, 5)
        await producer.stop()
        await consumer.stop()
    report.line(f"produced live traffic at {len(live) / sent_s:,.0f} events/s")
    per_event: list[float] = []
    window: dict[str, list[float]] = defaultdict(list)
    for alert, at in alerts:
        if alert["rule"] == "order_outlier":
            if alert["key"] in placed:
                per_event.append(at - placed[alert["key"]])
            continue
        end = parse_ms(alert["window_end"])
        if end < live_ms:
            continue
        spec = rules.by_name(alert["rule"])
        need = end + rules.lateness_ms
        closes = []
        for topic in spec.topics:
            for partition in range(4):
                marks, walls = progress.get(f"{topic}/{partition}", ([], []))
                index = bisect.bisect_left(marks, need)
                closes.append(walls[index] if index < len(marks) else None)
        if None not in closes:
            window[alert["rule"]].append(at - max(closes))

    def line(name: str, values: list[float]) -> None:
        if values:
            report.line(
                f"{name:<34} n={len(values):>5}  "
                f"p50={percentile(values, 50) * 1000:>7.0f} ms"
                f"  p99={percentile(values, 99) * 1000:>7.0f} ms"
                f"  max={max(values) * 1000:>7.0f} ms"
            )
        else:
            report.line(f"{name:<34} n=    0")

    line("per-event (order_outlier)", per_event)
    # Where the per-event time goes: the verdict's CreateTime on the partials topic is
    # the moment the intake published it.
    verdicts = await verdict_times(bootstrap, prefix)
    to_intake = [
        verdicts[a["key"]] - placed[a["key"]]
        for a, _ in alerts
        if a["rule"] == "order_outlier" and a["key"] in placed and a["key"] in verdicts
    ]
    to_alert = [
        at - verdicts[a["key"]]
        for a, at in alerts
        if a["rule"] == "order_outlier" and a["key"] in verdicts
    ]
    line("  produced -> intake published", to_intake)
    line("  intake published -> alert", to_alert)
    line("window rules, from window close", [v for vs in window.values() for v in vs])
    for rule, values in sorted(window.items()):
        line(f"  {rule}", values)
    report.line("targets: p99 < 1 s for both")


async def verdict_times(bootstrap: str, prefix: str) -> dict[str, float]:
    """Per-event verdicts on the partials topic: order id -> the intake's publish time (s)."""
    consumer = AIOKafkaConsumer(
        f"{prefix}lat-app.partials",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    times: dict[str, float] = {}
    try:
        while batch := await consumer.getmany(timeout_ms=2_000, max_records=50_000):
            for messages in batch.values():
                for message in messages:
                    if b'"t":"e"' in message.value:
                        times[json.loads(message.value)["k"]] = message.timestamp / 1000
    finally:
        await consumer.stop()
    return times


def main() -> None:
    """Parse arguments, run, save the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--history-days", type=float, default=1.5)
    parser.add_argument("--live-hours", type=float, default=24.0)
    parser.add_argument("--settle", type=float, default=8.0)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    args.rate = args.rate or default_rate()
    report = Report("latency")
    asyncio.run(run(args, report))
    if not args.no_save:
        report.save()


if __name__ == "__main__":
    main()
