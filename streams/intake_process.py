"""Stage 1 (intake) in a child process, so the intake and the closer use two cores.

A worker is one Python process for its users (one ``/metrics``, one ``/health``,
one command), but its two stages are independent Kafka consumers in separate
consumer groups that talk only through the partials topic. The parent runs the
closer, the web server and the broker probe; :class:`IntakeChild` starts a child
process (``spawn``: no inherited event loop or sockets) that runs the intake
stage of a :class:`~streams.worker.Worker` and reports over a pipe:

* ``{"started": True}`` once its consumer is in the group;
* every ``REPORT_INTERVAL_S``: intake outcome and dead-letter counts since the last
  report, the consumer lag per input partition and how many partials it sent.

The parent adds those to its own metrics. The child dies with the parent
(``PR_SET_PDEATHSIG``), and the parent fails (so a supervisor restarts the whole
worker) if the child exits; snapshots make either restart continue where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from alerts.metrics import AlertMetrics
from streams.config import Settings
from streams.logs import configure_logging, get_logger
from streams.rules import RuleSet

__all__ = ["IntakeChild", "RelayMetrics"]

log = get_logger(__name__)

#: Seconds between the child's metric reports.
REPORT_INTERVAL_S = 0.25
#: Seconds a stopping child gets for its final checkpoint before it is killed.
STOP_TIMEOUT_S = 20.0


class RelayMetrics:
    """The intake's metrics in the child: collected, then shipped to the parent."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.reasons: Counter[tuple[str, str]] = Counter()
        self.lag: dict[tuple[str, int], int] = {}
        self.evicted: Counter[tuple[str, str]] = Counter()
        self.folded: Counter[str] = Counter()
        self.snapshots: list[tuple[str, int, float, bool]] = []

    def add_evictions(self, evicted: Counter[tuple[str, str]], folded: Counter[str]) -> None:
        self.evicted.update(evicted)
        self.folded.update(folded)

    def record_snapshot(self, stage: str, size: int, seconds: float, *,
                        too_large: bool = False) -> None:
        self.snapshots.append((stage, size, seconds, too_large))

    def add_intake_counts(self, counts: Counter[tuple[str, str]],
                          reasons: Counter[tuple[str, str]]) -> None:
        self.counts.update(counts)
        self.reasons.update(reasons)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.lag[(topic, partition)] = lag

    def set_broker_connected(self, connected: bool) -> None:
        """The parent probes the broker itself."""

    def report(self, partials_sent: int) -> dict[str, Any]:
        """Counts since the last report, current lags and the partials sent so far."""
        message = {"counts": dict(self.counts), "reasons": dict(self.reasons),
                   "lag": dict(self.lag), "partials_sent": partials_sent,
                   "evicted": dict(self.evicted), "folded": dict(self.folded),
                   "snapshots": list(self.snapshots)}
        self.evicted.clear()
        self.folded.clear()
        self.snapshots.clear()
        self.counts.clear()
        self.reasons.clear()
        self.lag.clear()
        return message


class IntakeChild:
    """Parent-side handle of the intake child process."""

    def __init__(self, settings: Settings, rules: RuleSet, *, create_input_topics: bool) -> None:
        self._args = (settings, rules, create_input_topics)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        #: Partials the child has sent so far (benchmarks compare it with what arrived).
        self.partials_sent = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Spawn the child."""
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe(duplex=False)
        process = context.Process(target=_child_main, args=(*self._args, child_conn),
                                  name="aftersales-intake", daemon=True)
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        log.info("intake_process_started", pid=process.pid)

    async def wait_started(self, metrics: AlertMetrics, timeout_s: float = 120.0) -> None:
        """Wait for the child's ``started`` report (applying any metrics before it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self._drain():
                if message.get("started"):
                    return
                self._apply(message, metrics)
            await asyncio.sleep(0.05)
        raise RuntimeError(f"intake process not ready after {timeout_s:.0f} s")

    async def relay(self, metrics: AlertMetrics) -> None:
        """Apply the child's reports to ``metrics`` until it exits (then raise)."""
        while True:
            for message in self._drain():
                self._apply(message, metrics)
            await asyncio.sleep(REPORT_INTERVAL_S / 2)

    async def stop(self) -> None:
        """Ask the child to stop (it checkpoints first); kill it if it does not."""
        process = self._process
        if process is None:
            return
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                log.warning("intake_process_killed", pid=process.pid)
                process.kill()
                await asyncio.to_thread(process.join, 5.0)
        with contextlib.suppress(Exception):
            for _ in self._drain():
                pass
        if self._conn is not None:
            self._conn.close()
        self._process = None

    def _drain(self) -> list[dict[str, Any]]:
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        messages = []
        try:
            while conn.poll():
                messages.append(conn.recv())
        except EOFError:
            pass
        if not messages and not process.is_alive():
            raise RuntimeError(f"intake process exited with code {process.exitcode}")
        return messages

    def _apply(self, message: dict[str, Any], metrics: AlertMetrics) -> None:
        if "counts" not in message:
            return
        metrics.add_intake_counts(message["counts"], message["reasons"])
        for (topic, partition), lag in message["lag"].items():
            metrics.set_consumer_lag(topic, partition, lag)
        metrics.add_evictions(message.get("evicted", {}), message.get("folded", {}))
        for stage, size, seconds, too_large in message.get("snapshots", ()):
            metrics.record_snapshot(stage, size, seconds, too_large=too_large)
        self.partials_sent = message["partials_sent"]


def _die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux), and exit now if
    the parent is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def _child_main(settings: Settings, rules: RuleSet, create_input_topics: bool,
                conn: Connection) -> None:
    _die_with_parent()
    configure_logging(settings.log_format, settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_child_run(settings, rules, create_input_topics, conn))


async def _child_run(settings: Settings, rules: RuleSet, create_input_topics: bool,
                     conn: Connection) -> None:
    from streams.worker import Worker  # the worker module imports this one

    metrics = RelayMetrics()
    worker = Worker(settings, rules, metrics, create_input_topics=create_input_topics,
                    roles=frozenset({"intake"}))
    task = asyncio.create_task(worker.run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    started = False
    while not task.done():
        await asyncio.wait({task}, timeout=REPORT_INTERVAL_S)
        if not started and worker.started.is_set():
            conn.send({"started": True})
            started = True
        conn.send(metrics.report(worker.partials_sent))
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
