"""Stage 1 (intake) in a child process, so the intake and the closer use two cores.

Size: the intake child process: its entry point, its relay of metrics to the parent and
the protocols the worker supervises it through.

A worker is one Python process for its users (one ``/metrics``, one ``/health``,
one command), but its two stages are independent Kafka consumers in separate
consumer groups that talk only through the partials topic. The parent runs the
closer, the web server and the broker probe; :class:`IntakeChild` starts a child
process (``spawn``: no inherited event loop or sockets) that runs the intake
stage of a :class:`~streams.runtime.worker.Worker` and reports over a pipe. The worker hands
its own class in as the child's :class:`IntakeRunnerFactory` (pickled by reference),
so this module never imports the worker module, which imports this one:

* ``{"started": True}`` once its consumer is in the group;
* ``{"failed": True}`` as soon as its intake failed (before its clients are closed);
* every ``REPORT_INTERVAL_S``: intake outcome and dead-letter counts since the last
  report, the consumer lag per input partition, how many partials it sent, its
  progress (records consumed so far, backlog) for ``/health``, and whether its own
  broker probe finds the broker (the child waits a broker outage out as the parent
  does: :mod:`streams.runtime.outage`).

The parent adds those to its own metrics. The child dies with the parent
(``PR_SET_PDEATHSIG``). The parent supervises every child from the moment it is
spawned (:meth:`IntakeChild.poll`): a child that exits at any time, including while
another child is still starting, or that falls silent, makes the parent fail (so a
supervisor restarts the whole worker); snapshots make the restart continue where it
stopped. A child whose intake returns without having been asked to stop exits
non-zero: that is a failure, not a clean stop.
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
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from alerts.metrics import LabelCounts
from streams.exceptions import WorkerFailure
from streams.logs import configure_logging, get_logger
from streams.rules.catalogue import RuleSet
from streams.runtime.config import Settings

__all__ = ["IntakeChild", "IntakeMetrics", "IntakeRunner", "IntakeRunnerFactory", "RelayMetrics"]

log = get_logger(__name__)

#: Seconds between the child's metric reports.
REPORT_INTERVAL_S = 0.25
#: Seconds a stopping child gets for its final checkpoint before it is killed.
STOP_TIMEOUT_S = 20.0
#: Seconds a spawned child may take to join the intake group.
START_TIMEOUT_S = 120.0
#: Seconds without any report after which a live child counts as hung.
SILENCE_TIMEOUT_S = 60.0


class IntakeMetrics(Protocol):
    """What stage 1 records: :class:`alerts.metrics.AlertMetrics` in the process that
    exports them, :class:`RelayMetrics` in an intake child."""

    def add_intake_counts(
        self, counts: LabelCounts[tuple[str, str]], reasons: LabelCounts[tuple[str, str]]
    ) -> None:
        """Add outcome counts by (topic, outcome) and dead letters by (topic, reason)."""

    def add_evictions(
        self, evicted: Mapping[tuple[str, str], int], folded: Mapping[str, int]
    ) -> None:
        """Count evicted series by (rule, reason) and keys folded into overflow."""

    def record_snapshot(
        self, stage: str, size: int, seconds: float, *, too_large: bool = False
    ) -> None:
        """Record one snapshot's size and encode time."""

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Set one input partition's consumer lag (records)."""

    def set_broker_connected(self, connected: bool) -> None:
        """Set whether the broker answers."""

    def add_commit_failures(self, counts: LabelCounts[tuple[str, str]]) -> None:
        """Count failed offset commits by (stage, kind)."""


class IntakeRunner(Protocol):
    """The intake stage as the child runs it (a worker with the role ``intake``)."""

    @property
    def started(self) -> asyncio.Event:
        """Set once the intake consumer is in its group."""

    @property
    def failed(self) -> bool:
        """Whether the intake failed."""

    @property
    def partials_sent(self) -> int:
        """Sealed partials sent so far."""

    @property
    def consumed(self) -> Mapping[str, int]:
        """Records consumed so far, by stage."""

    @property
    def backlog(self) -> Mapping[str, int]:
        """Records behind, by stage."""

    async def run(self) -> None:
        """Run until cancelled or failed."""


class IntakeRunnerFactory(Protocol):
    """Builds the child's intake runner (the worker class); it must be picklable by
    reference (a module-level class or function)."""

    def __call__(
        self,
        settings: Settings,
        rules: RuleSet,
        metrics: RelayMetrics,
        *,
        create_input_topics: bool,
        roles: frozenset[str],
    ) -> IntakeRunner:
        """A runner of the given roles, recording to ``metrics``."""


class RelayMetrics:
    """The intake's metrics in the child: collected, then shipped to the parent."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.reasons: Counter[tuple[str, str]] = Counter()
        self.lag: dict[tuple[str, int], int] = {}
        self.evicted: Counter[tuple[str, str]] = Counter()
        self.folded: Counter[str] = Counter()
        self.snapshots: list[tuple[str, int, float, bool]] = []
        self.commit_failures: Counter[tuple[str, str]] = Counter()
        #: What the child's broker probe found last.
        self.broker_connected = True

    def add_evictions(
        self, evicted: Mapping[tuple[str, str], int], folded: Mapping[str, int]
    ) -> None:
        """Collect evictions for the next report."""
        self.evicted.update(evicted)
        self.folded.update(folded)

    def record_snapshot(
        self, stage: str, size: int, seconds: float, *, too_large: bool = False
    ) -> None:
        """Collect one snapshot's figures for the next report."""
        self.snapshots.append((stage, size, seconds, too_large))

    def add_intake_counts(
        self, counts: LabelCounts[tuple[str, str]], reasons: LabelCounts[tuple[str, str]]
    ) -> None:
        """Collect intake counts for the next report."""
        for key, n in counts.items():
            self.counts[key] += n
        for key, n in reasons.items():
            self.reasons[key] += n

    def add_commit_failures(self, counts: LabelCounts[tuple[str, str]]) -> None:
        """Collect failed commits for the next report."""
        for key, n in counts.items():
            self.commit_failures[key] += n

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Keep the partition's latest lag for the next report."""
        self.lag[(topic, partition)] = lag

    def set_broker_connected(self, connected: bool) -> None:
        """Keep what the child's probe found for the next report."""
        self.broker_connected = connected

    def report(self, partials_sent: int) -> dict[str, Any]:
        """Counts since the last report, current lags and the partials sent so far."""
        message = {
            "counts": dict(self.counts),
            "reasons": dict(self.reasons),
            "lag": dict(self.lag),
            "partials_sent": partials_sent,
            "evicted": dict(self.evicted),
            "folded": dict(self.folded),
            "snapshots": list(self.snapshots),
            "broker_connected": self.broker_connected,
            "commit_failures": dict(self.commit_failures),
        }
        self.commit_failures.clear()
        self.evicted.clear()
        self.folded.clear()
        self.snapshots.clear()
        self.counts.clear()
        self.reasons.clear()
        self.lag.clear()
        return message


class IntakeChild:
    """Parent-side handle of the intake child process."""

    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        *,
        create_input_topics: bool,
        runner: IntakeRunnerFactory,
    ) -> None:
        self._args = (settings, rules, create_input_topics, runner)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        #: Set once the child reported that its consumer is in the group.
        self.ready = False
        #: Partials the child has sent so far (benchmarks compare it with what arrived).
        self.partials_sent = 0
        #: Records the child's intake consumed so far, and its backlog (``/health``).
        self.consumed = 0
        self.backlog = 0
        #: Whether the child's broker probe found the broker, as of its latest report.
        self.broker_connected = True
        self._spawned_at = 0.0
        self._heard_at = 0.0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Spawn the child."""
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe(duplex=False)
        process = context.Process(
            target=_child_main,
            args=(*self._args, child_conn),
            name="aftersales-intake",
            daemon=True,
        )
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        self._spawned_at = self._heard_at = time.monotonic()
        log.info("intake_process_started", pid=process.pid)

    def poll(self, metrics: IntakeMetrics) -> None:
        """Apply the child's reports to ``metrics``; raise :class:`WorkerFailure` if the
        child exited (at any time), did not join within ``START_TIMEOUT_S``, or has sent
        nothing for ``SILENCE_TIMEOUT_S``."""
        now = time.monotonic()
        messages = self._drain()
        for message in messages:
            self._heard_at = now
            if message.get("started"):
                self.ready = True
            self._apply(message, metrics)
        process = self._process
        assert process is not None
        if any(message.get("failed") for message in messages):
            raise WorkerFailure(f"intake process {process.pid} failed (see its worker_failed)")
        if not self.ready and now - self._spawned_at > START_TIMEOUT_S:
            raise WorkerFailure(
                f"intake process {process.pid} not ready after {START_TIMEOUT_S:.0f} s"
            )
        if now - self._heard_at > SILENCE_TIMEOUT_S:
            raise WorkerFailure(
                f"intake process {process.pid} silent for {now - self._heard_at:.0f} s"
            )

    async def stop(self, *, graceful: bool = True) -> None:
        """Ask the child to stop (it checkpoints first) and kill it if it does not; kill
        it at once unless ``graceful`` (the worker failed: a last checkpoint could write
        to a broker that lost the topics, and the snapshots are crash-consistent)."""
        process = self._process
        if process is None:
            return
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S if graceful else 5.0)
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
        assert conn is not None
        assert process is not None
        messages = []
        closed = False
        try:
            while conn.poll():
                messages.append(conn.recv())
        except EOFError:
            closed = True
        if closed or not process.is_alive():
            process.join(1.0)
            raise WorkerFailure(f"intake process {process.pid} exited with code {process.exitcode}")
        return messages

    def _apply(self, message: dict[str, Any], metrics: IntakeMetrics) -> None:
        if "counts" not in message:
            return
        metrics.add_intake_counts(message["counts"], message["reasons"])
        for (topic, partition), lag in message["lag"].items():
            metrics.set_consumer_lag(topic, partition, lag)
        metrics.add_evictions(message.get("evicted", {}), message.get("folded", {}))
        metrics.add_commit_failures(message.get("commit_failures", {}))
        for stage, size, seconds, too_large in message.get("snapshots", ()):
            metrics.record_snapshot(stage, size, seconds, too_large=too_large)
        self.partials_sent = message["partials_sent"]
        self.consumed, self.backlog = message["consumed"], message["backlog"]
        self.broker_connected = message.get("broker_connected", True)


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


def _child_main(
    settings: Settings,
    rules: RuleSet,
    create_input_topics: bool,
    runner: IntakeRunnerFactory,
    conn: Connection,
) -> None:
    _die_with_parent()
    configure_logging(settings.log_format, settings.log_level)
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(_child_run(settings, rules, create_input_topics, runner, conn))
    sys.exit(code)


async def _child_run(
    settings: Settings,
    rules: RuleSet,
    create_input_topics: bool,
    runner: IntakeRunnerFactory,
    conn: Connection,
) -> int:
    """Run the intake until SIGTERM/SIGINT (exit code 0); ending any other way is a
    failure (exit code 1), so the parent never mistakes it for a clean stop."""
    metrics = RelayMetrics()
    worker = runner(
        settings,
        rules,
        metrics,
        create_input_topics=create_input_topics,
        roles=frozenset({"intake"}),
    )
    task = asyncio.create_task(worker.run())
    loop = asyncio.get_running_loop()
    stop_requested = False

    def request_stop() -> None:
        nonlocal stop_requested
        stop_requested = True
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    started = False
    while not task.done():
        await asyncio.wait({task}, timeout=REPORT_INTERVAL_S)
        if worker.failed:  # say so now: closing its clients may take a while
            conn.send({"failed": True})
            break
        if not started and worker.started.is_set():
            conn.send({"started": True})
            started = True
        report = metrics.report(worker.partials_sent)
        report.update(consumed=worker.consumed["intake"], backlog=worker.backlog["intake"])
        conn.send(report)
    await asyncio.wait({task})
    if stop_requested:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
        return 0
    if task.cancelled():
        log.error("intake_process_failed", reason="intake cancelled without a stop request")
    elif task.exception() is None:
        log.error("intake_process_failed", reason="intake returned without a stop request")
    return 1  # an exception was logged by the worker as worker_failed
