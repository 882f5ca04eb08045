"""examples/consume_alerts.py against the embedded broker: it prints each real alert
once (duplicates and records of other schemas skipped) and survives a non-JSON record."""

from __future__ import annotations

import asyncio
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.dev.embedded_broker import EmbeddedBroker
from tests.alert_samples import replayed_alerts

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consume_alerts.py"


async def _publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


class TestConsumeAlertsExample:
    def test_prints_each_alert_once(self, broker: EmbeddedBroker, topic_prefix: str) -> None:
        """Every distinct (alert_id, status, severity) is printed once, in order."""
        alerts = replayed_alerts()
        values = [alert.to_json() for alert in alerts]
        values += [values[0], b"not json", b'{"schema": "aftersales.alert/v9"}']
        topic = f"{topic_prefix}alerts"
        asyncio.run(_publish(broker.bootstrap_servers, topic, values))
        result = subprocess.run(
            [
                sys.executable,
                str(EXAMPLE),
                "--bootstrap",
                broker.bootstrap_servers,
                "--topic",
                topic,
                "--from-beginning",
                "--idle-timeout",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        example = runpy.run_path(str(EXAMPLE))
        expected: list[str] = []
        for value in values[: len(alerts)]:
            line = example["format_alert"](json.loads(value))
            if line not in expected:
                expected.append(line)
        assert result.stdout.splitlines() == expected
        assert len(expected) == len({(a.alert_id, a.status, a.severity) for a in alerts})
        assert "not JSON" in result.stderr
