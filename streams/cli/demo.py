"""``aftersales demo``: embedded broker, simulated shop, worker, live alerts, /metrics.

1. Starts the embedded tansu broker on a free loopback port.
2. Back-fills ``--history-days`` of simulated traffic as fast as it can, so the
   baselines have learned the daily rhythm by the time live traffic starts.
3. Streams the rest at ``--speed`` x real time with scripted incidents soon after
   the live start (a wrong price, a customer burst, a wait-time surge), plus a
   few malformed events that go to the dead-letter topic.
4. Prints each alert as one line, and a status line of events per topic, dead
   letters and the event-time watermark every few seconds.

Ctrl-C or ``--duration`` stops the worker, the producer and the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import numpy as np
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from alerts.locales import Catalogue
from alerts.metrics import AlertMetrics
from alerts.sinks import ConsoleSink
from alerts.text import AlertTexts
from streams.cli.errors import ConfigProblem
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker, free_port
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.hostile import bad_events
from streams.dev.simulator.incidents import CustomerBurst, WaitTimeSurge, WrongPrice
from streams.dev.simulator.kafka import produce_events
from streams.exceptions import ConfigError
from streams.logs import configure_logging, get_logger
from streams.rules.catalogue import load_rules
from streams.runtime.app import HostWorker, create_app
from streams.runtime.config import Settings
from streams.runtime.kafka_options import client_options
from streams.runtime.personal_labels import label_mask
from streams.runtime.worker import Worker

__all__ = ["demo"]

log = get_logger("aftersales.demo")


def demo_incidents(
    live_start: datetime, sku: str
) -> tuple[WrongPrice, CustomerBurst, WaitTimeSurge]:
    """The scripted incidents, minutes after the live start (event time)."""
    return (
        WrongPrice(
            start=live_start + timedelta(minutes=5),
            duration=timedelta(hours=1),
            sku=sku,
            magnitude=0.1,
        ),
        CustomerBurst(
            start=live_start + timedelta(minutes=10),
            customer_id="C-0000042",
            address_id="A-0000042",
            magnitude=15.0,
        ),
        WaitTimeSurge(
            start=live_start + timedelta(minutes=20),
            duration=timedelta(hours=3),
            queue="returns",
            magnitude=6.0,
        ),
    )


async def _feed(
    options: dict[str, Any],
    prefix: str,
    history: list[Event],
    live: Iterator[Event],
    speed: float,
    seed: int,
) -> None:
    await produce_events(history, options, prefix)
    log.info("demo_history_loaded", events=len(history))
    producer = AIOKafkaProducer(**options, max_request_size=4 * 1_048_576)
    await producer.start()
    try:
        for bad in bad_events(np.random.default_rng(seed), 9):
            await producer.send_and_wait(prefix + bad.topic, bad.raw, key=bad.key)
    finally:
        await producer.stop()
    await produce_events(live, options, prefix, realtime_speed=speed)


async def _status(
    metrics: AlertMetrics, worker: Worker, every_s: float, words: Catalogue, utc_offset_ms: int
) -> None:
    while True:
        await asyncio.sleep(every_s)
        # prometheus_client has no public read of one labelled child's value.
        counts = {
            topic: int(metrics.events_total.labels(topic, "ok")._value.get())  # noqa: SLF001
            for topic in TOPICS
        }
        invalid = sum(
            int(metrics.events_total.labels(topic, outcome)._value.get())  # noqa: SLF001
            for topic in TOPICS
            for outcome in ("invalid", "duplicate")
        )
        marks = [mark for closer in worker.closers.values() for mark in closer.watermarks.values()]
        watermark = words.time(min(marks), utc_offset_ms) if marks else "-"
        click.echo(
            click.style(
                words.text(
                    "demo.flow",
                    orders=f"{counts['orders']:,}",
                    complaints=f"{counts['complaints']:,}",
                    wait_times=f"{counts['wait-times']:,}",
                    dead=f"{invalid:,}",
                    alerts=f"{worker.alerts_published:,}",
                    time=watermark,
                ),
                dim=True,
            )
        )


@click.command()
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Live traffic runs this many times faster than real time.",
)
@click.option(
    "--history-days",
    type=click.FloatRange(min=1, max=14),
    default=5.0,
    show_default=True,
    help="Days of simulated history back-filled at start.",
)
@click.option(
    "--orders-per-day", type=click.FloatRange(min=100), default=6_000.0, show_default=True
)
@click.option(
    "--web-port",
    type=click.IntRange(0, 65535),
    default=6066,
    show_default=True,
    help="Port for /metrics (0: pick a free one).",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Rules file (TOML); default: the shipped rules.",
)
def demo(
    duration: float | None,
    speed: float,
    history_days: float,
    orders_per_day: float,
    web_port: int,
    seed: int,
    rules_path: str | None,
) -> None:
    """Run everything locally: broker, simulator with incidents, worker, live alerts."""
    colour = sys.stdout.isatty()
    # The demo is for a person: readable log lines (colours only on a terminal), and
    # none of the client's routine rebalancing warnings between the alerts.
    configure_logging("console", "WARNING")
    _quiet_clients()
    try:
        rules = load_rules(rules_path)
        # Refuse bad AFTERSALES_* variables before the broker starts.
        Settings.from_env({k: v for k, v in os.environ.items() if k.startswith("AFTERSALES_")})
    except ConfigError as error:
        raise ConfigProblem(error) from None
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    live_start = now
    sim_start = live_start - timedelta(days=history_days)
    base = SimulationConfig(
        seed=seed,
        start=sim_start,
        duration=timedelta(days=history_days + 2),
        orders_per_day=orders_per_day,
    )
    config = replace(base, incidents=demo_incidents(live_start, best_seller(base)))
    events = simulate(config)
    cutoff = int(live_start.timestamp() * 1000)
    history: list[Event] = []
    for event in events:
        history.append(event)
        if event.ts_ms >= cutoff:
            break
    live = _chain_one(history.pop(), events)
    port = web_port or free_port()
    with (
        tempfile.TemporaryDirectory(prefix="aftersales-demo-") as datadir,
        EmbeddedBroker(log_path=Path(os.devnull)) as broker,
    ):
        settings = Settings.from_env(
            {
                "AFTERSALES_LOG_FORMAT": "console",
                **{k: v for k, v in os.environ.items() if k.startswith("AFTERSALES_")},
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "AFTERSALES_WEB_PORT": str(port),
                "AFTERSALES_WEB_HOST": "127.0.0.1",
                # ERROR, not WARNING: the intake runs in a child process that sets up its
                # logging from these settings, so only this level keeps its client's
                # routine rebalancing warnings from splitting the alert lines.
                "AFTERSALES_LOG_LEVEL": "ERROR",
                # Live traffic runs --speed times faster than the clock, so its event time
                # runs ahead of the wall clock on purpose.
                "AFTERSALES_MAX_FUTURE_MS": str(int((history_days + 3) * 86_400_000 * speed)),
            }
        )
        registry = CollectorRegistry()
        metrics = AlertMetrics.create(
            registry,
            series_cap=settings.metrics_series_cap,
            topics=TOPICS,
            mask=label_mask(settings, warn=False),
        )
        texts = AlertTexts(locale=settings.locale)
        console = ConsoleSink(
            click.echo, colour=colour, texts=texts, utc_offset_ms=rules.utc_offset_ms
        )
        pipeline = Worker(settings, rules, metrics, sinks=[console])
        # Faust's data directory lives in a temporary folder, removed on the way out.
        app = create_app(settings, pipeline, registry, datadir=datadir)
        click.echo(
            texts.catalogue.text(
                "demo.start",
                broker=broker.bootstrap_servers,
                metrics=f"http://127.0.0.1:{port}/metrics",
                history=f"{len(history):,}",
                speed=f"{speed:g}",
            )
        )

        # Registered by calls, not as decorators: faust types App.task's result loosely,
        # which would leave the functions untyped.
        async def feed() -> None:
            await pipeline.started.wait()
            await _feed(client_options(settings), settings.topic_prefix, history, live, speed, seed)

        app.task(feed)

        async def status() -> None:
            await _status(metrics, pipeline, 5.0, texts.catalogue, rules.utc_offset_ms)

        app.task(status)

        if duration is not None:
            stop_after = duration

            async def stop_later() -> None:
                await asyncio.sleep(stop_after)
                os.kill(os.getpid(), signal.SIGTERM)

            app.task(stop_later)

        with contextlib.suppress(SystemExit):
            HostWorker(app, settings, on_logging=_quiet_clients).execute_from_commandline()
    click.echo(texts.catalogue.text("demo.stopped"))


def _quiet_clients() -> None:
    """Only errors from the Kafka client and Faust: their warnings during start-up
    (heartbeats during a rebalance) are routine here and would split the alert lines."""
    for name in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(name).setLevel(logging.ERROR)


def best_seller(config: SimulationConfig) -> str:
    """The sku with the most orders in the first simulated day (its price norm is warm)."""
    day = replace(config, duration=timedelta(days=1), incidents=())
    counts = Counter(
        event.value.get("sku")
        for event in simulate(day)
        if event.topic == "orders" and event.value.get("status") == "placed"
    )
    return str(counts.most_common(1)[0][0])


def _chain_one(first: Event, rest: Iterator[Event]) -> Iterator[Event]:
    yield first
    yield from rest
