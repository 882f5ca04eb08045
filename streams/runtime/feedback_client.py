"""``aftersales feedback``: look an alert up on the alerts topic and record a verdict.

The runtime side of :mod:`streams.pipeline.feedback`: it finds the alert's series (rule,
dimension, key) among the alert events on ``<prefix>alerts`` (unless given), then
produces a :class:`~streams.pipeline.feedback.Verdict` keyed by the alert id to
``<prefix>feedback``, which the workers read.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alerts.model import format_time
from streams.pipeline.feedback import Verdict, VerdictValue
from streams.runtime.config import Settings
from streams.runtime.kafka_options import client_options
from streams.runtime.read_back import ReadBack
from streams.runtime.topics import TopicNames, ensure_feedback_topic

__all__ = ["AlertNotFound", "find_alert", "send_verdict"]


#: Empty polls after which a partition still short of its end offset is given up on.
_BEHIND_QUIET_POLLS = 20


class AlertNotFound(LookupError):
    """The alert id is not on the alerts topic (expired, mistyped, or another prefix)."""


async def find_alert(
    settings: Settings, names: TopicNames, alert_id: str, quiet_ms: int = 1_500
) -> tuple[str, str, str]:
    """``(rule, dimension, key)`` of ``alert_id``, read from the alerts topic.

    Reads from the start to the end (:class:`~streams.runtime.read_back.ReadBack`: at
    least to the end offsets the broker reports, then until a poll of ``quiet_ms`` comes
    back empty). Alerts are rare, so the read is short.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(names.alerts)
        if partitions is None:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(names.alerts) or set()
        tps = [TopicPartition(names.alerts, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        reader = ReadBack(consumer, tps, poll_ms=quiet_ms, give_up_polls=_BEHIND_QUIET_POLLS)
        async with contextlib.aclosing(reader.records()) as records:
            async for message in records:
                try:
                    alert = json.loads(message.value)
                    if alert.get("alert_id") == alert_id:
                        return str(alert["rule"]), str(alert["dimension"]), str(alert["key"])
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
        raise AlertNotFound(alert_id)
    finally:
        await consumer.stop()


async def send_verdict(
    settings: Settings,
    alert_id: str,
    verdict: VerdictValue,
    note: str,
    series: tuple[str, str, str] | None = None,
) -> Verdict:
    """Record a verdict on ``alert_id`` (its series looked up unless given); return it."""
    names = TopicNames.from_settings(settings)
    await ensure_feedback_topic(settings, names)
    if series is None:
        series = await find_alert(settings, names, alert_id)
    record = Verdict(alert_id, verdict, *series, note=note, ts=format_time(datetime.now(UTC)))
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(names.feedback, record.to_json(), key=alert_id.encode())
    finally:
        await producer.stop()
    return record
