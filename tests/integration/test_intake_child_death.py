"""An intake child that dies while the worker starts makes the worker exit non-zero
within 10 s, whichever child it is and whatever the other one is doing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from tests.integration.test_recovery import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The promise: a dead child is noticed and the worker gone within this long.
EXIT_WITHIN_S = 10.0


def events(log: Path, name: str) -> list[dict]:  # type: ignore[type-arg]
    """The worker log's JSON lines whose event is ``name``."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with_event = json.loads(line)
            if with_event.get("event") == name:
                found.append(with_event)
    return found


async def wait_for_event(log: Path, name: str, count: int, timeout_s: float) -> list[dict]:  # type: ignore[type-arg]
    """Poll the log until it holds ``count`` ``name`` events."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = events(log, name) if log.exists() else []
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {count} {name} events in {timeout_s} s:\n{log.read_text()[-3000:]}")


class TestIntakeChildDeath:
    @pytest.mark.parametrize(
        ("spawned", "victim"),
        [(1, 0), (2, 0), (2, 1)],
        ids=["first-while-joining", "first-while-second-starts", "second-while-joining"],
    )
    async def test_worker_exits_non_zero_fast(
        self, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, spawned: int, victim: int
    ) -> None:
        """SIGKILL child ``victim`` as soon as ``spawned`` children exist: the worker exits
        with a non-zero code within 10 s, naming the dead child."""
        log = tmp_path / "worker.log"
        worker = start_worker(broker, topic_prefix, free_port(), log)
        try:
            started = await wait_for_event(log, "intake_process_started", spawned, 90)
            pid = started[victim]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            while worker.poll() is None and time.monotonic() - killed_at < 60:
                await asyncio.sleep(0.05)
            took_s = time.monotonic() - killed_at
        finally:
            terminate(worker)
        text = log.read_text(errors="replace")
        print(f"worker exit {took_s:.1f} s after the kill, code {worker.returncode}")
        assert took_s < EXIT_WITHIN_S, f"still up {took_s:.1f} s after the kill\n{text[-3000:]}"
        assert worker.returncode not in (0, None), text[-3000:]
        assert f"intake process {pid} exited" in text
