"""Shared helpers of the service benchmarks: machine facts, traffic, results files.

The benchmarks print figures and ratios; they never pass or fail (the machine is noisy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from streams.contract.events import TOPICS
from streams.dev.simulator import SimulationConfig, simulate
from streams.dev.simulator.events import Event
from streams.runtime.config import Settings
from streams.runtime.topics import TopicNames, ensure_topics

RESULTS = Path(__file__).parent / "results"
EVENTS_PER_DAY = 114_000  # default simulation: ~93k orders, ~20k waits, ~1k complaints
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def machine() -> str:
    """One line: CPUs, CPU model, memory, Python."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1_048_576
                break
    return (
        f"nproc={os.cpu_count()} cpu={model!r} mem={mem_gib:.1f} GiB "
        f"python={platform.python_version()}"
    )


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_rss_bytes(pid: int) -> int:
    """Resident set size of a process and all its descendants (a worker and its intake
    process)."""
    total = rss_bytes(pid)
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="utf-8") as children:
            for child in children.read().split():
                with contextlib.suppress(OSError):
                    total += tree_rss_bytes(int(child))
    return total


def traffic(days: float, seed: int = 1, **overrides: Any) -> Iterator[Event]:
    """The default simulated shop for ``days`` (about 114k events per day)."""
    config = SimulationConfig(seed=seed, duration=timedelta(days=days), **overrides)
    return simulate(config)


def encode(event: Event) -> bytes:
    """An event value as the simulator produces it."""
    return _dumps(event.value).encode()


def settings_for(bootstrap: str, prefix: str, **extra: str) -> Settings:
    """Worker settings for one benchmark run (own topic prefix and consumer groups)."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "AFTERSALES_TOPIC_PREFIX": prefix,
        "AFTERSALES_TOPIC_PARTITIONS": "4",
        "AFTERSALES_APP_ID": f"{prefix}app",
        "AFTERSALES_LOG_LEVEL": "WARNING",
        **extra,
    }
    return Settings.from_env(env)


async def create_topics(settings: Settings) -> TopicNames:
    """Create the input and internal topics with 4 partitions."""
    names = TopicNames.from_settings(settings)
    await ensure_topics(settings, names, inputs=True)
    return names


class Report:
    """Print lines and keep them for ``benchmarks/results/<date>-<name>.txt``."""

    def __init__(self, name: str, out: TextIO = sys.stdout) -> None:
        self.name = name
        self.out = out
        self.lines: list[str] = []
        self.line(f"# {name} benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        self.line(f"# machine: {machine()}")

    def line(self, text: str = "") -> None:
        """Print and keep one line."""
        print(text, file=self.out, flush=True)
        self.lines.append(text)

    def save(self) -> Path:
        """Write the kept lines to the results directory."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-{self.name}.txt"
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        print(f"# written to {path}", flush=True)
        return path


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


async def wait_until(predicate: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or the timeout; return whether it became true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


__all__ = [
    "EVENTS_PER_DAY",
    "RESULTS",
    "TOPICS",
    "Report",
    "create_topics",
    "encode",
    "machine",
    "percentile",
    "rss_bytes",
    "settings_for",
    "traffic",
    "tree_rss_bytes",
    "wait_until",
]
