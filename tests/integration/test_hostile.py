"""Hostile input mixed with valid traffic: the worker stays up, every hostile value is
dead-lettered, and the alerts are exactly those of the valid traffic alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker
from tests.integration.test_parity import (
    PARTITIONS,
    RULES,
    canonical,
    collect_alerts,
    parity_events,
    parity_replay,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def hostile_values(rng: random.Random, n: int) -> list[bytes]:
    """Values no contract-abiding producer sends: each must be dead-lettered."""
    base = {"event_id": "h", "ts": "2026-11-03T10:00:00Z", "order_id": "O-H", "status": "placed"}
    makers = [
        lambda i: rng.randbytes(rng.randint(1, 2_000)),  # random bytes
        lambda i: b"[" * 50_000 + b"]" * 50_000,  # deep JSON
        lambda i: json.dumps(
            {**base, "event_id": f"h{i}", "sku": "x" * rng.randint(300, 200_000)}
        ).encode(),  # huge string
        lambda i: json.dumps({**base, "event_id": f"h{i}", "pad": "y" * 1_100_000}).encode(),
        lambda i: json.dumps({**base, "event_id": f"h{i}", "amount": -1e308}).encode(),
        lambda i: (json.dumps({**base, "event_id": f"h{i}"})[:-1] + ',"amount":Infinity}').encode(),
        lambda i: json.dumps({**base, "event_id": f"h{i}", "quantity": 0}).encode(),
        lambda i: json.dumps({**base, "event_id": f"h{i}", "ts": "1900-01-01T00:00:00Z"}).encode(),
        lambda i: json.dumps({**base, "event_id": f"h{i}", "ts": "2090-01-01T00:00:00Z"}).encode(),
        lambda i: json.dumps({**base, "event_id": f"h{i}", "ts": 4_102_444_800_000 - 1}).encode(),
        lambda i: json.dumps({**base, "event_id": f"h{i}", "status": "\u0000" * 10}).encode(),
        lambda i: json.dumps([base] * 3).encode(),
        *poison_makers(base),
    ]
    return [makers[i % len(makers)](i) for i in range(n)]


#: Every dead-letter reason a hostile value may get.
HOSTILE_REASONS = (
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "bad_timestamp",
    "unknown_status",
    "too_large",
    "duplicate",
    "bad_text",
    "duplicate_key",
    "internal_error",
)

BIG_INT = "1" + "0" * 400


def poison_makers(base: dict[str, object]) -> list[Callable[[int], bytes]]:
    """Well-formed JSON that once stopped the worker (issue #17), and what RFC 3339,
    UTF-8 and JSON's unique names refuse."""

    def order(i: int, **fields: object) -> dict[str, object]:
        return {**base, "event_id": f"p{i}", **fields}

    def dumps(value: object) -> bytes:
        return json.dumps(value).encode()

    return [
        lambda i: dumps(order(i, amount=1)).replace(
            b'"amount": 1', b'"amount": ' + BIG_INT.encode()
        ),
        lambda i: dumps(order(i, quantity=1)).replace(
            b'"quantity": 1', b'"quantity": ' + BIG_INT.encode()
        ),
        lambda i: (
            b'{"event_id":"p%d","ts":"2026-11-03T10:00:00Z","ticket_id":"T",'
            b'"wait_seconds":%s}' % (i, BIG_INT.encode())
        ),
        lambda i: dumps(order(i, customer_id="\ud800")),
        lambda i: dumps(order(i, sku="\ud800x")),
        lambda i: dumps(order(i, order_id="\udfff")),
        lambda i: dumps(order(i, sku="S")).replace(b'"S"', b'"\xed\xa0\x80"'),
        lambda i: dumps(order(i, region="north\u202e")),
        lambda i: dumps(order(i, carrier="a\nb")),
        lambda i: dumps(order(i, ts="20261103T100000Z")),
        lambda i: dumps(order(i, ts="2026-W45-2T10:00:00Z")),
        lambda i: (
            b'{"event_id":"p%d","ts":"2026-11-03T10:00:00Z","order_id":"O","order_id":"P",'
            b'"status":"placed"}' % i
        ),
    ]


class TestHostileReplay:
    def test_hostile_values_change_nothing_in_replay(self) -> None:
        """The same hostile values through ``replay``: each dead-lettered with a validation
        reason (none an internal error), the alerts those of the valid traffic alone."""
        rules = load_rules(RULES)
        valid = [
            (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
            for e in parity_events()
        ]
        expected = parity_replay()
        rng = random.Random(4)
        hostile = hostile_values(rng, 240)
        records = list(valid)
        for value in hostile:
            records.insert(
                rng.randrange(len(records)), (rng.choice(TOPICS), rng.randbytes(8), value)
            )
        pipeline = ReplayPipeline(rules, partitions=PARTITIONS)
        alerts = [a.to_dict() for a in pipeline.run(records)]
        assert canonical(alerts) == canonical(expected)
        reasons = Counter(d.reason for d in pipeline.dead_letters)
        assert sum(reasons.values()) == len(hostile)
        assert set(reasons) <= set(HOSTILE_REASONS) - {"internal_error"}
        assert {"bad_text", "duplicate_key", "out_of_range", "bad_timestamp"} <= set(reasons)


class TestHostileInput:
    async def test_hostile_values_change_nothing(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """Interleaved hostile values are all dead-lettered and leave the alerts untouched."""
        rules = load_rules(RULES)
        valid = [
            (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
            for e in parity_events()
        ]
        expected = parity_replay()
        rng = random.Random(4)
        hostile = hostile_values(rng, 120)
        records = [(f"{topic_prefix}{t}", k, v) for t, k, v in valid]
        for value in hostile:
            records.insert(
                rng.randrange(len(records)),
                (f"{topic_prefix}{rng.choice(TOPICS)}", rng.randbytes(8), value),
            )
        settings = Settings.from_env(
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "AFTERSALES_TOPIC_PREFIX": topic_prefix,
                "AFTERSALES_APP_ID": f"{topic_prefix}app",
                "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
            }
        )
        metrics = AlertMetrics.create(CollectorRegistry(), topics=TOPICS)
        worker = Worker(settings, rules, metrics)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.started.wait(), 90)
            producer = AIOKafkaProducer(
                bootstrap_servers=broker.bootstrap_servers,
                max_request_size=4 * 1_048_576,
                linger_ms=5,
            )
            await producer.start()
            try:
                # Keys decide partitions: valid events keep theirs so parity with replay holds.
                sends = [
                    await producer.send(topic, value, key=key) for topic, key, value in records
                ]
                await asyncio.gather(*sends)
            finally:
                await producer.stop()
            alerts = await collect_alerts(broker, f"{topic_prefix}alerts", len(expected), 180)
            assert not task.done(), "the worker stopped"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if canonical(alerts) != canonical(expected):
            # Rare (one fresh-clone CI run in several, never in 25 runs alone): say what the
            # intake saw, to tell events lost from events read twice (at-least-once re-reads
            # add to "ok") or judged late, and what the closer dropped as late.
            prefix = len(topic_prefix)
            plain = [(topic[prefix:], key, value) for topic, key, value in records]
            pytest.fail(
                "live alerts differ from replay; intake outcomes, live vs replay of the same "
                f"records:\n{outcome_table(metrics, plain)}\n"
                f"closer partials that came after their window closed: {late_partials(worker)}\n"
                f"only live: {sorted((canonical(alerts) - canonical(expected)).elements())}\n"
                f"only replay: {sorted((canonical(expected) - canonical(alerts)).elements())}"
            )
        dead = sum(
            int(metrics.dead_letter_total.labels(t, r)._value.get())
            for t in TOPICS
            for r in HOSTILE_REASONS
        )
        assert dead == len(hostile)
        assert not any(
            metrics.dead_letter_total.labels(t, "internal_error")._value.get() for t in TOPICS
        ), "validation let a poison value through"
        consumer = AIOKafkaConsumer(
            f"{topic_prefix}dead-letter",
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1_048_576,
        )
        await consumer.start()
        got = 0
        try:
            while got < len(hostile):
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 15)
                got += sum(len(m) for m in batch.values())
        finally:
            await consumer.stop()
        assert got == len(hostile)


def outcome_table(metrics: AlertMetrics, records: list[tuple[str, bytes, bytes]]) -> str:
    """Per topic: the worker's event outcomes and dead-letter reasons, against those of
    ``replay`` over the same records (for a failure message)."""
    pipeline = ReplayPipeline(load_rules(RULES), partitions=PARTITIONS)
    for _ in pipeline.run(records):
        pass
    replayed: Counter[tuple[str, str]] = Counter(pipeline.stage1.intake.counts)
    for dead in pipeline.dead_letters:
        replayed[(dead.source_topic.rpartition(".")[2], f"dead:{dead.reason}")] += 1
    live: Counter[tuple[str, str]] = Counter()
    for counter, label, prefix in (
        (metrics.events_total, "outcome", ""),
        (metrics.dead_letter_total, "reason", "dead:"),
    ):
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    what = prefix + sample.labels[label]
                    live[(sample.labels["topic"], what)] += int(sample.value)
    return "\n".join(
        f"  {topic} {what}: live {live[(topic, what)]}, replay {replayed[(topic, what)]}"
        for topic, what in sorted(set(live) | set(replayed))
    )


def late_partials(worker: Worker) -> dict[int, int]:
    """Per closer partition: partials that arrived after their window closed."""
    return {p: closer.late_partials for p, closer in sorted(worker.closer.closers.items())}
