"""Live parity of the order-risk topic: the worker over Kafka publishes exactly the risk
records ``replay --risk-out`` computes (contract 7.4)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import replace
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
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import ReplayPipeline, partition_for
from streams.risk import RiskRecord
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker
from tests.integration.test_parity import collect_alerts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).parent / "data" / "fast_rules.toml"
PARTITIONS = 3


def scenario() -> SimulationConfig:
    """One simulated day of a shop with repeat customers and the risk drivers on."""
    return replace(
        SimulationConfig(seed=9, start=datetime(2026, 11, 2, tzinfo=UTC)),
        duration=timedelta(days=1),
        orders_per_day=2_000,
        n_customers=1_500,
        risk_drivers=1.0,
    )


def canonical(records: list[dict]) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(json.dumps(r, sort_keys=True) for r in records)


async def placements(broker: EmbeddedBroker, topic: str, expected: int) -> set[tuple[int, bytes]]:
    """``(partition, key)`` of the first ``expected`` records of ``topic``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: set[tuple[int, bytes]] = set()
    count = 0
    try:
        async with asyncio.timeout(60):
            while count < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, messages in batch.items():
                    count += len(messages)
                    seen.update((tp.partition, m.key) for m in messages)
    finally:
        await consumer.stop()
    return seen


@pytest.mark.parametrize("risk_max_keys", [None, 150])
async def test_order_risk_topic_equals_replay(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, risk_max_keys: int | None
) -> None:
    """Same events: the order-risk topic and replay's risk records agree field for field,
    with several closer partitions owning the customers. With ``risk_max_keys`` below
    what each partition sees (about 500 customers and 660 orders), both evict the same
    keys at the same facts, and the worker counts them in its eviction metric."""
    path = RULES
    if risk_max_keys is not None:
        path = tmp_path / "capped.toml"
        text = RULES.read_text(encoding="utf-8")
        path.write_text(
            text.replace("[settings]\n", f"[settings]\nrisk_max_keys = {risk_max_keys}\n", 1),
            encoding="utf-8",
        )
    rules = load_rules(path)
    assert rules.risk_max_keys == (risk_max_keys or 500_000)
    events = list(simulate(scenario()))
    replay = ReplayPipeline(rules, partitions=PARTITIONS)
    expected: list[RiskRecord] = []
    replay.on_risk = expected.append
    for _ in replay.run(
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in events
    ):
        pass
    want = [r.to_dict() for r in expected]
    assert len(want) > 1_000
    assert {r["stage"] for r in want} == {"placed", "shipped", "delivered"}
    # One day is shorter than the label delay (14 days): the models keep their prior, so
    # the parity rests on the factor values, which depend on every shard's history.
    assert len({json.dumps(r["factors"]) for r in want}) > len(want) // 2, "factors all alike"

    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_TOPIC_PREFIX": topic_prefix,
            "AFTERSALES_APP_ID": f"{topic_prefix}app",
            "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
        }
    )
    registry = CollectorRegistry()
    worker = Worker(settings, rules, AlertMetrics.create(registry, topics=TOPICS))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.started.wait(), 90)
        await produce_events(events, broker.bootstrap_servers, topic_prefix)
        got = await collect_alerts(broker, f"{topic_prefix}order-risk", len(want), 240)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    extra, missing = canonical(got) - canonical(want), canonical(want) - canonical(got)
    assert not extra and not missing, (
        f"{sum(extra.values())} extra, {sum(missing.values())} missing of {len(want)}; "
        f"e.g. {list(extra)[:1]} / {list(missing)[:1]}"
    )
    # Keyed by order id, on the partition Kafka's default partitioner picks for the key
    # (the worker writes explicit batches), so every stage of one order is in order.
    placed = await placements(broker, f"{topic_prefix}order-risk", len(want))
    assert {key for _, key in placed} == {r["order_id"].encode() for r in want}
    wrong = [(p, k) for p, k in placed if p != partition_for(k, PARTITIONS)]
    assert not wrong, f"{len(wrong)} records off their key's partition, e.g. {wrong[:1]}"
    replayed = sum(shard.scorer.drain_evictions()["cap"] for shard in replay.risk_shards)
    counted = registry.get_sample_value(
        "aftersales_series_evicted_total", {"rule": "risk_score", "reason": "cap"}
    )
    if risk_max_keys is None:
        assert replayed == 0 and not counted
    else:
        assert replayed > 1_000, "the cap was never reached"
        assert counted == replayed, (counted, replayed)
