"""A worker refuses an intake-state topic created before the reviews topic (too few
partitions), naming the topic and the fix, instead of failing later."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.exceptions import TopicError
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.topics import TopicNames, ensure_state_topic
from streams.runtime.worker import Worker

pytestmark = [pytest.mark.integration]


async def test_too_few_intake_state_partitions_is_refused(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    """Three input topics' worth of partitions (the layout before reviews) is refused."""
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_TOPIC_PREFIX": topic_prefix,
            "AFTERSALES_APP_ID": f"{topic_prefix}app",
            "AFTERSALES_TOPIC_PARTITIONS": "2",
        }
    )
    names = TopicNames.from_settings(settings)
    await ensure_state_topic(settings, names.intake_state, 3 * 2)
    worker = Worker(settings, load_rules(), AlertMetrics.create(CollectorRegistry(), topics=TOPICS))
    with pytest.raises(TopicError, match=r"intake-state has 6 partitions.*needs 8"):
        await worker.run()
