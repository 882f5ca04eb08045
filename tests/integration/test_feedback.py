"""On-call feedback through the embedded broker: ``aftersales feedback`` finds the alert on
the alerts topic and records the verdict; the running worker reads it, widens the
series' band and exports the multiplier on /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from alerts.model import SCHEMA
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.feedback_client import send_verdict
from streams.runtime.worker import Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"rule": "return_rate", "dimension": "sku", "key": "SKU-7"}
SID = "return_rate:sku:SKU-7"


def alert(alert_id: str) -> bytes:
    """A firing alert event of return_rate:sku:SKU-7."""
    import json

    return json.dumps(
        {
            "schema": SCHEMA,
            "alert_id": alert_id,
            "status": "firing",
            "rule": "return_rate",
            "dimension": "sku",
            "key": "SKU-7",
            "severity": "warning",
            "direction": "up",
            "observed": 0.3,
            "baseline": 0.1,
            "lower": None,
            "upper": 0.2,
            "score": 1.0,
            "sample_size": 40,
            "window_start": "2026-11-01T00:00:00Z",
            "window_end": "2026-11-02T00:00:00Z",
            "started_at": "2026-11-02T00:00:00Z",
            "summary": "s",
            "runbook": "r",
            "context": {},
        }
    ).encode()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "feedback", *args],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def until(condition: object, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.2)
    return False


class TestFeedback:
    async def test_verdicts_reach_the_worker(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """Three false verdicts (one through the CLI) make the multiplier 1.3 on the
        worker and on /metrics; changing one of them to true takes it back to 1; an unknown
        alert id is refused by the CLI."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_TOPIC_PREFIX": topic_prefix,
            "AFTERSALES_APP_ID": f"{topic_prefix}app",
            "AFTERSALES_INTAKE_PROCESSES": "0",
        }
        settings = Settings.from_env(env)
        registry = CollectorRegistry()
        worker = Worker(settings, load_rules(None), AlertMetrics.create(registry, topics=TOPICS))
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.started.wait(), 90)
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            await producer.start()
            try:
                for i in range(3):
                    await producer.send_and_wait(
                        f"{topic_prefix}alerts", alert(f"a{i}"), key=SID.encode()
                    )
            finally:
                await producer.stop()
            await send_verdict(settings, "a0", "false", "promo traffic")
            await send_verdict(settings, "a1", "false", "")
            done = await asyncio.to_thread(cli, env, "a2", "--false", "--note", "again")
            assert done.returncode == 0, done.stderr
            assert "return_rate:sku:SKU-7 a2 false" in done.stdout

            def value() -> float | None:
                return registry.get_sample_value(
                    "aftersales_feedback_sensitivity_multiplier", LABELS
                )

            assert await until(lambda: value() == 1.3, 30), (worker.sensitivity, value())
            assert worker.sensitivity == {SID: 1.3}
            await send_verdict(settings, "a2", "true", "it was real after all")
            assert await until(lambda: value() is None, 30), value()  # net 1: back to 1
            assert worker.sensitivity == {}

            missing = await asyncio.to_thread(cli, env, "nope", "--false")
            assert missing.returncode == 1
            assert "is not on" in missing.stderr
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
