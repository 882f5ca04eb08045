"""Warm start through Kafka: a worker started after ``aftersales backfill`` alerts on the
first day of live traffic; a cold worker, on the same traffic, is still warming up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import OrderDrop
from streams.dev.simulator.jsonl import event_line
from streams.dev.simulator.kafka import produce_events
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2026, 11, 2, tzinfo=UTC)
HISTORY_DAYS = 3
LIVE = START + timedelta(days=HISTORY_DAYS)
#: The live topics hold the last hours of the history too (retention overlaps the export).
OVERLAP = timedelta(hours=3)
INCIDENT = OrderDrop(
    start=LIVE + timedelta(hours=9), duration=timedelta(hours=2), channel="app", magnitude=0.05
)
#: The shipped order_volume rule (a day of 15-minute windows to warm up).
RULES = """
[rules.order_volume]
window = "15m"
dimensions = ["total", "channel"]
relative_to = "total"
total_direction = "down"
[rules.order_volume.detector]
cusum_direction = "down"
direction = "both"
persistence = [2, 3]
resolve_after = 2
grace_period = 96
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def settings_env(broker: EmbeddedBroker, prefix: str, rules: Path) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "AFTERSALES_TOPIC_PREFIX": prefix,
        "AFTERSALES_APP_ID": f"{prefix}app",
        "AFTERSALES_TOPIC_PARTITIONS": "3",
        "AFTERSALES_INTAKE_PROCESSES": "0",
        "AFTERSALES_RULES_FILE": str(rules),
    }


async def run_worker(
    env: dict[str, str],
    live: list,
    until_ms: int,  # type: ignore[type-arg]
) -> tuple[list[dict], Worker]:  # type: ignore[type-arg]
    """Start a worker, produce ``live`` (if any), wait until its closers closed ``order_volume``
    through ``until_ms``; return every alert on the alerts topic."""
    settings = Settings.from_env(env)
    worker = Worker(
        settings,
        load_rules(env["AFTERSALES_RULES_FILE"]),
        AlertMetrics.create(CollectorRegistry(), topics=TOPICS),
    )
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.started.wait(), 90)
        if live:
            await produce_events(
                live, env["KAFKA_BOOTSTRAP_SERVERS"], env["AFTERSALES_TOPIC_PREFIX"]
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 240
        while loop.time() < deadline:
            closed = [c.closed_through.get("order_volume", 0) for c in worker.closers.values()]
            if closed and max(closed) >= until_ms:
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"the worker did not close order_volume through {until_ms}")
        await asyncio.sleep(1)  # the closing batch's alerts are being published
        return await read_alerts(env), worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def read_alerts(env: dict[str, str]) -> list[dict]:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        f"{env['AFTERSALES_TOPIC_PREFIX']}alerts",
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest",
    )
    await consumer.start()
    alerts: list[dict] = []  # type: ignore[type-arg]
    try:
        while batch := await consumer.getmany(timeout_ms=2_000):
            alerts += [json.loads(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return alerts


async def backfill(env: dict[str, str], history: Path, *args: str) -> tuple[int, str]:
    """Run ``aftersales backfill`` in a child process; its exit code and standard error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli.main",
        "backfill",
        str(history),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 300)
    return process.returncode or 0, err.decode()


def incident_alerts(alerts: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    lo, hi = _ms(INCIDENT.start), _ms(INCIDENT.start + INCIDENT.duration + timedelta(hours=1))
    return [
        a
        for a in alerts
        if a["rule"] == "order_volume"
        and a["key"] == "app"
        and a["status"] == "firing"
        and lo <= _ms(datetime.fromisoformat(a["window_end"])) <= hi
    ]


async def test_a_backfilled_worker_alerts_on_day_one_and_a_cold_one_does_not(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    config = SimulationConfig(
        seed=11,
        start=START,
        duration=timedelta(days=HISTORY_DAYS, hours=14),
        orders_per_day=4_000,
        incidents=(INCIDENT,),
    )
    events = list(simulate(config))
    history = tmp_path / "history.jsonl"
    with history.open("w", encoding="utf-8") as out:
        for event in events:
            if event.ts_ms < _ms(LIVE):
                out.write(event_line(event))
        out.write("{not json\n")
        out.write('{"topic": "refunds", "value": {"refund_id": "R-1"}}\n')
    live = [e for e in events if e.ts_ms >= _ms(LIVE - OVERLAP)]
    until = _ms(INCIDENT.start + INCIDENT.duration + timedelta(hours=1))

    warm_env = settings_env(broker, "warm.", rules)
    # Before the live topics hold the hand-over's events, backfill warns of the gap ...
    code, err = await backfill(warm_env, history)
    assert code == 0, err
    assert "dead letters: 2" in err and "unknown_topic" in err, err
    assert "closer snapshots" in err and "live input topics must hold every event from" in err
    assert "warning: 3 input partitions start after that time or are empty" in err, err
    # ... and once they do (retention overlaps the export), it does not.
    await produce_events(live, broker.bootstrap_servers, "warm.")
    code, err = await backfill(warm_env, history, "--force")
    assert code == 0 and "warning" not in err, err

    # A second backfill into a deployment with state is refused, naming the way out.
    code, err = await backfill(warm_env, history)
    assert code == 1 and "--force" in err and "Traceback" not in err, err

    warm, worker = await run_worker(warm_env, [], until)
    assert incident_alerts(warm), (
        f"warm worker missed the day-1 outage; alerts: "
        f"{[(a['rule'], a['key'], a['status'], a['window_end']) for a in warm][:20]}"
    )
    # The hand-over (history closed, overlap dropped as late, live windows after) reads
    # as neither a drop nor a double count: nothing fires before the outage.
    early = [
        (a["key"], a["window_end"])
        for a in warm
        if a["status"] == "firing"
        and _ms(datetime.fromisoformat(a["window_end"])) <= _ms(INCIDENT.start)
    ]
    assert early == [], f"false alerts around the hand-over: {early}"
    restored = sum(len(c.banks["order_volume"]) for c in worker.closers.values())
    assert restored >= 4, "the worker did not start from the backfilled baselines"

    cold, _ = await run_worker(settings_env(broker, "cold.", rules), live, until)
    assert incident_alerts(cold) == [], "a cold worker alerted while warming up"


def test_backfill_shows_progress_and_its_summary_on_a_terminal(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """On a terminal, backfill redraws events, rate and ETA while it reads the history,
    then prints its summary (here in Chinese: AFTERSALES_LOCALE reaches the progress line)."""
    from streams.dev.simulator.jsonl import write_events_file
    from tests.unit.test_cli_first_run import run_on_terminal

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    history = tmp_path / "history.jsonl"
    write_events_file(
        simulate(
            SimulationConfig(seed=5, start=START, duration=timedelta(days=2), orders_per_day=3_000)
        ),
        history,
    )
    env = settings_env(broker, "progress.", rules)
    code, shown = run_on_terminal(["backfill", str(history)], tmp_path, env)
    assert code == 0, shown
    assert "\rbackfill: " in shown and " events " in shown and "ETA " in shown, shown
    assert "done in " in shown and "closer snapshots" in shown, shown
    code, shown = run_on_terminal(
        ["backfill", str(history), "--force"], tmp_path, {**env, "AFTERSALES_LOCALE": "zh_CN"}
    )
    assert code == 0, shown
    assert "\rbackfill：" in shown and "预计剩余 " in shown and "完成，用时 " in shown, shown
