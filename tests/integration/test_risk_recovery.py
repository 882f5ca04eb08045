"""Risk recovery: a worker killed with SIGKILL mid-stream and restarted publishes the
risk records of an uninterrupted run; a record scored again after the restart (at least
once) is identical to the first."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import ReplayPipeline
from streams.risk import RiskRecord
from streams.rules.catalogue import load_rules
from tests.integration.test_parity import RULES, collect_alerts
from tests.integration.test_recovery import events_ok, start_worker, wait_ready
from tests.integration.test_risk_parity import PARTITIONS, scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_sigkill_and_restart_gives_the_same_risk_records(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    """Kill the worker mid-stream, restart it: the order-risk topic holds exactly the
    replay's records, each (order, stage) with one content however often it was sent."""
    events = list(simulate(scenario()))
    replay = ReplayPipeline(load_rules(RULES), partitions=PARTITIONS)
    records: list[RiskRecord] = []
    replay.on_risk = records.append
    for _ in replay.run(
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in events
    ):
        pass
    expected = {json.dumps(r.to_dict(), sort_keys=True) for r in records}
    log = tmp_path / "worker.log"
    port = free_port()
    worker = start_worker(broker, topic_prefix, port, log)
    try:
        await wait_ready(port, worker, 60)
        cut = len(events) * 6 // 10
        span_s = (events[cut - 1].ts_ms - events[0].ts_ms) / 1000
        producing = asyncio.create_task(
            produce_events(
                events[:cut],
                broker.bootstrap_servers,
                topic_prefix,
                realtime_speed=max(span_s / 8.0, 1.0),
            )
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        processed = 0.0
        while processed < cut // 3 and loop.time() < deadline:
            await asyncio.sleep(0.1)
            processed = events_ok(port)
        assert 0 < processed < cut, "the kill must land mid-stream"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        await producing
        worker = start_worker(broker, topic_prefix, port, log)
        await wait_ready(port, worker, 90)
        await produce_events(events[cut:], broker.bootstrap_servers, topic_prefix)
        got = await collect_alerts(broker, f"{topic_prefix}order-risk", len(expected), 300)
    finally:
        terminate(worker)
    contents: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in got:
        contents[(record["order_id"], record["stage"])].add(json.dumps(record, sort_keys=True))
    differing = {key: len(v) for key, v in contents.items() if len(v) > 1}
    assert not differing, f"scored differently after the restart: {list(differing)[:5]}"
    published = {json.dumps(r, sort_keys=True) for r in got}
    assert published == expected, (
        f"{len(published - expected)} extra, {len(expected - published)} missing of "
        f"{len(expected)}\n{log.read_text()[-3000:]}"
    )
