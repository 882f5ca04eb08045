"""``aftersales feedback``: look an alert up on the alerts topic and record a verdict.

The runtime side of :mod:`streams.pipeline.feedback`: it finds the alert's series (rule,
dimension, key) among the alert events on ``<prefix>alerts`` (unless given), then
produces a :class:`~streams.pipeline.feedback.Verdict` keyed by the alert id to
``<prefix>feedback``, which the workers read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alerts.model import format_time
from streams.pipeline.feedback import Verdict, VerdictValue
from streams.runtime.config import Settings
from streams.runtime.kafka_options import client_options
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

    Reads from the start at least to the end offsets the broker reports, then on until
    the topic is quiet for ``quiet_ms``: tansu can report an end short of the last batch
    (see the broker notes), and on a busy machine one fetch can take longer than the
    quiet period, so neither alone is enough. A partition that never reaches its end is
    given up on after ``_BEHIND_QUIET_POLLS`` empty polls. Alerts are rare, so the read is
    short.
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
        ends = await consumer.end_offsets(tps) if tps else {}
        behind = {tp for tp in tps if ends[tp] > 0}
        quiet_polls = 0
        while True:
            batch = await consumer.getmany(timeout_ms=quiet_ms)
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
            if not batch:
                quiet_polls += 1
                if not behind or quiet_polls >= _BEHIND_QUIET_POLLS:
                    raise AlertNotFound(alert_id)
                continue
            quiet_polls = 0
            for messages in batch.values():
                for message in messages:
                    try:
                        alert = json.loads(message.value)
                        if alert.get("alert_id") == alert_id:
                            return str(alert["rule"]), str(alert["dimension"]), str(alert["key"])
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue
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
