"""Two workers: when a closer partition moves to the second one, the first stops
exporting that partition's open episodes (``aftersales_alert_info``) and series gauges
at once, so no alert is reported twice or left firing by a worker that lost it."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.model import SeriesRef
from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import CustomerBurst
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import ReplayPipeline
from streams.pipeline.wire import closer_partition
from streams.rules.catalogue import load_rules
from tests.integration.test_parity import PARTITIONS, RULES, START
from tests.integration.test_recovery import start_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_INFO = re.compile(r"^aftersales_alert_info\{(?P<labels>.*)\} 1\.0$")
_OBSERVED = re.compile(r"^aftersales_metric_observed\{(?P<labels>.*)\} ")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def burst_scenario() -> SimulationConfig:
    """13 simulated hours ending in the middle of ten customer bursts: about twenty
    episodes are still open at the end, spread over every closer partition."""
    duration = timedelta(hours=13)
    base = SimulationConfig(seed=5, start=START, duration=duration, orders_per_day=5_000)
    burst_at = START + duration - timedelta(minutes=25)
    return replace(
        base,
        incidents=tuple(
            CustomerBurst(
                start=burst_at,
                duration=timedelta(minutes=20),
                customer_id=f"C-9{i:06d}",
                address_id=f"A-9{i:06d}",
                magnitude=30.0,
            )
            for i in range(10)
        ),
    )


def replay(events: list[Event]) -> list[dict]:  # type: ignore[type-arg]
    """What replay publishes for ``events`` (the live worker must agree)."""
    return [
        a.to_dict()
        for a in ReplayPipeline(load_rules(RULES), partitions=PARTITIONS).run(
            (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
            for e in events
        )
    ]


def open_episodes(alerts: list[dict]) -> dict[str, SeriesRef]:  # type: ignore[type-arg]
    """alert_id -> series of every windowed episode fired and not resolved."""
    opened: dict[str, SeriesRef] = {}
    for alert in alerts:
        if alert["window_start"] == alert["window_end"]:
            continue  # per-event alerts never open an episode
        if alert["status"] == "firing":
            opened[alert["alert_id"]] = SeriesRef(alert["rule"], alert["dimension"], alert["key"])
        else:
            opened.pop(alert["alert_id"], None)
    return opened


def scrape(port: int) -> tuple[set[str], set[SeriesRef]] | None:
    """(alert ids on alert_info, series on metric_observed) of one worker; None if busy."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    ids, series = set(), set()
    for line in text.splitlines():
        if match := _INFO.match(line):
            ids.add(dict(_LABEL.findall(match["labels"]))["alert_id"])
        elif match := _OBSERVED.match(line):
            labels = dict(_LABEL.findall(match["labels"]))
            series.add(SeriesRef(labels["rule"], labels["dimension"], labels["key"]))
    return ids, series


def closer_partitions(log: Path) -> list[int] | None:
    """The closer partitions of the worker's latest assignment (None before the first)."""
    latest = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"closer_assigned"' in line:
            latest = json.loads(line)["partitions"]
    return latest


def owner(series: SeriesRef) -> int:
    return closer_partition(series.kafka_key, PARTITIONS)


class TestPartitionHandover:
    async def test_old_owner_stops_exporting_moved_partitions(
        self,
        broker: EmbeddedBroker,
        topic_prefix: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """After the second worker takes partitions, each open episode is exported by exactly
        its partition's owner, and the first worker exports nothing of the moved ones."""
        # The burst episodes are per customer/address: keep their ids readable on
        # alert_info so the scrape can name them (the default hashes them).
        monkeypatch.setenv("AFTERSALES_PERSONAL_LABELS", "keep")
        events = list(simulate(burst_scenario()))
        opened = open_episodes(replay(events))
        assert {owner(s) for s in opened.values()} == set(range(PARTITIONS)), "scenario too narrow"
        ports = [free_port(), free_port()]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        first = start_worker(broker, topic_prefix, ports[0], logs[0])
        workers = [first]
        try:
            await wait_ready(ports[0], first, 90)
            await produce_events(events, broker.bootstrap_servers, topic_prefix)
            deadline = time.monotonic() + 120
            seen: tuple[set[str], set[SeriesRef]] | None = None
            while time.monotonic() < deadline:
                seen = scrape(ports[0])
                if seen is not None and seen[0] == set(opened):
                    break
                await asyncio.sleep(0.5)
            assert seen is not None and seen[0] == set(opened), "first worker never showed them"

            second = start_worker(broker, topic_prefix, ports[1], logs[1])
            workers.append(second)
            await wait_ready(ports[1], second, 90)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                mine, theirs = closer_partitions(logs[0]), closer_partitions(logs[1])
                a, b = scrape(ports[0]), scrape(ports[1])
                if (
                    mine is not None
                    and theirs
                    and len(mine) + len(theirs) == PARTITIONS
                    and a is not None
                    and b is not None
                    and a[0] | b[0] == set(opened)
                ):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # a late duplicate would show up now
            mine, theirs = closer_partitions(logs[0]), closer_partitions(logs[1])
            a, b = scrape(ports[0]), scrape(ports[1])
        finally:
            for worker in workers:
                terminate(worker)
        assert mine is not None and theirs, f"no partition moved: {mine} / {theirs}"
        assert set(mine).isdisjoint(theirs) and len(mine) + len(theirs) == PARTITIONS
        assert a is not None and b is not None
        moved = {alert_id for alert_id, s in opened.items() if owner(s) in theirs}
        assert moved, "no open episode on a moved partition"
        assert a[0] == set(opened) - moved, f"old owner still exports {sorted(a[0] & moved)}"
        assert b[0] == moved
        assert {owner(s) for s in a[1]} <= set(mine), "old owner still exports moved series"
