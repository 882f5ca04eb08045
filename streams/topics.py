"""Topic names and creation with explicit configuration.

Topics are created with explicit ``retention.ms``/``retention.bytes`` because
some brokers (tansu) report only the settings given at creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.config import Settings
from streams.events import TOPICS, TopicName
from streams.logs import get_logger

__all__ = ["TopicNames", "ensure_topics"]

log = get_logger(__name__)

_TOPIC_EXISTS: Final = 36
_WEEK_MS: Final = 7 * 24 * 3600 * 1000
#: Snapshot topics: each snapshot is found through the partition's last record, so old
#: ones only need to outlive a few checkpoint intervals (a day is generous).
_STATE: Final = {"cleanup.policy": "delete", "retention.ms": str(24 * 3600 * 1000),
                 "max.message.bytes": str(4 * 1_048_576)}


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full names of every topic the service reads or writes."""

    inputs: dict[TopicName, str]
    alerts: str
    dead_letter: str
    partials: str
    checkpoints: str
    intake_state: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        """Names under the configured prefix; internal topics also carry the app id."""
        internal = f"{settings.topic_prefix}{settings.app_id}."
        return cls(
            inputs={name: settings.topic(name) for name in TOPICS},
            alerts=settings.topic("alerts"),
            dead_letter=settings.topic("dead-letter"),
            partials=f"{internal}partials",
            checkpoints=f"{internal}checkpoints",
            intake_state=f"{internal}intake-state",
        )

    def input_short_name(self, full_name: str) -> TopicName:
        """Short name (``orders``...) of a full input topic name."""
        for short, full in self.inputs.items():
            if full == full_name:
                return short
        raise KeyError(full_name)


async def ensure_topics(settings: Settings, names: TopicNames, *, inputs: bool = True) -> None:
    """Create missing topics; existing ones are left as they are."""
    retention = {"retention.ms": str(_WEEK_MS), "retention.bytes": "-1"}
    new = [NewTopic(names.alerts, settings.topic_partitions, 1, topic_configs=retention),
           NewTopic(names.dead_letter, settings.topic_partitions, 1,
                    topic_configs={**retention, "max.message.bytes": str(64 * 1_048_576)}),
           NewTopic(names.partials, settings.topic_partitions, 1, topic_configs=retention),
           NewTopic(names.checkpoints, settings.topic_partitions, 1, topic_configs=_STATE)]
    if inputs:
        new += [NewTopic(full, settings.topic_partitions, 1, topic_configs=retention)
                for full in names.inputs.values()]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics(new)
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_EXISTS):
                log.warning("topic_create_failed", topic=topic, code=code, message=message)
            elif code == 0:
                log.info("topic_created", topic=topic)
    finally:
        await admin.close()


async def ensure_state_topic(settings: Settings, name: str, partitions: int) -> None:
    """Create a snapshot topic with ``partitions`` partitions if it is missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1,
                                                       topic_configs=_STATE)])
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_EXISTS):
                log.warning("topic_create_failed", topic=topic, code=code, message=message)
    finally:
        await admin.close()
