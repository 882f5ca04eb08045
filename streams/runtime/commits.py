"""Failed offset commits: which ones a rebalance caused, and when failures are fatal.

A commit can fail because the consumer group moved on while the offsets were being
taken: aiokafka raises ``CommitFailedError`` when the broker answers
``REBALANCE_IN_PROGRESS``, ``ILLEGAL_GENERATION`` or ``UNKNOWN_MEMBER_ID`` ("the group has
already rebalanced"), and ``IllegalStateError`` for a partition that is no longer
assigned (or while the group re-forms with no assignment). Under CPU pressure a member
misses its heartbeats, the broker drops it, and every commit until it has rejoined fails
this way; such rebalances can follow each other for tens of seconds. Nothing is broken:
aiokafka rejoins by itself, the partitions' new owner resumes from their snapshots (the
worker writes a snapshot before it commits, and restores from the snapshot, not from the
committed offset), and the next commit from the new assignment supersedes the failed one.
These failures are *superseded*: logged and counted (``aftersales_commit_failures_total``
with ``kind="superseded"``; the shipped ``AftersalesCommitsSuperseded`` rule warns when
they keep coming), not fatal.

Every other failure (a timeout, an unknown topic, authorisation) is an *error*: three in
a row over at least 30 s while the broker answers make the worker exit, so a supervisor
restarts it and the restart re-creates what the broker lost (#17, "Honest health").
A commit that succeeds forgives both kinds. A group that never settles is not waited out
for ever either: superseded failures with no success in between for ``rebalance_limit_s``
are fatal as well.

Examples
--------
>>> from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaTimeoutError
>>> is_rebalance(CommitFailedError()), is_rebalance(IllegalStateError("not assigned"))
(True, True)
>>> is_rebalance(KafkaTimeoutError()), is_rebalance(TimeoutError())
(False, False)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    IllegalStateError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

from streams.exceptions import WorkerFailure
from streams.logs import get_logger

__all__ = ["REBALANCE_ERRORS", "CommitFailures", "FailureKind", "is_rebalance"]

log = get_logger(__name__)

#: Commit errors that mean the group rebalanced under the commit (aiokafka wraps the
#: first three broker answers in ``CommitFailedError``; they are listed for callers that
#: talk to the coordinator directly).
REBALANCE_ERRORS: tuple[type[Exception], ...] = (
    CommitFailedError,
    RebalanceInProgressError,
    IllegalGenerationError,
    UnknownMemberIdError,
    IllegalStateError,
)

FailureKind = Literal["superseded", "error"]


def is_rebalance(exc: BaseException) -> bool:
    """Whether a failed commit was overtaken by a rebalance (see the module docstring)."""
    return isinstance(exc, REBALANCE_ERRORS)


@dataclass(slots=True)
class _Streak:
    """Failures in a row and when the first of them happened (monotonic seconds)."""

    count: int = 0
    since: float = 0.0

    def add(self, now: float) -> None:
        if not self.count:
            self.since = now
        self.count += 1

    def fatal(self, limit: int, now: float, span_s: float) -> bool:
        return self.count >= limit and now - self.since >= span_s


class CommitFailures:
    """Failed offset commits of one process, and the decision when they are fatal.

    Parameters
    ----------
    max_failures
        Failures in a row (of one kind) before the worker may exit.
    failing_s
        How long errors must have lasted, as well, before they are fatal (a broker that
        blips for a second must not restart the worker).
    rebalance_limit_s
        How long superseded failures may go on with no commit succeeding.
    clock
        Monotonic clock in seconds (tests inject one).
    """

    def __init__(
        self,
        *,
        max_failures: int = 3,
        failing_s: float = 30.0,
        rebalance_limit_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.failing_s = failing_s
        self.rebalance_limit_s = rebalance_limit_s
        self._clock = clock
        self._errors = _Streak()
        self._superseded = _Streak()
        #: Failures of each kind since the start (logs and tests).
        self.totals: dict[FailureKind, int] = {"superseded": 0, "error": 0}
        #: Failures by (stage, kind) not yet handed to the metrics (:meth:`drain`).
        self._counts: Counter[tuple[str, FailureKind]] = Counter()

    @property
    def errors_in_a_row(self) -> int:
        """Errors since the last successful commit (outages not counted)."""
        return self._errors.count

    @property
    def superseded_in_a_row(self) -> int:
        """Superseded failures since the last successful commit."""
        return self._superseded.count

    def drain(self) -> Counter[tuple[str, FailureKind]]:
        """Failures by (stage, kind) since the last drain, for the metrics."""
        counts, self._counts = self._counts, Counter()
        return counts

    def succeeded(self) -> None:
        """A commit went through: every failure before it is forgiven."""
        self._errors = _Streak()
        self._superseded = _Streak()

    def failed(self, stage: str, exc: BaseException, *, broker_reachable: bool) -> FailureKind:
        """Count the failed commit of ``stage``; return its kind, or raise
        :class:`WorkerFailure` if failures of that kind have become fatal.

        A failure while the broker is unreachable is logged but not counted: an outage is
        waited out (the worker's broker probe reports it).
        """
        now = self._clock()
        if is_rebalance(exc):
            self.totals["superseded"] += 1
            self._counts[(stage, "superseded")] += 1
            self._superseded.add(now)
            log.info(
                "commit_superseded",
                stage=stage,
                error=type(exc).__name__,
                in_a_row=self._superseded.count,
                action="the group rebalanced; the next commit comes from the new assignment",
            )
            if self._superseded.fatal(self.max_failures, now, self.rebalance_limit_s):
                log.error(
                    "commits_superseded_too_long",
                    stage=stage,
                    failures=self._superseded.count,
                    seconds=round(now - self._superseded.since, 1),
                    action="exiting: the consumer group does not settle",
                )
                raise WorkerFailure(
                    f"{stage} commits overtaken by rebalances for "
                    f"{now - self._superseded.since:.0f} s: {exc!r}"
                ) from exc
            return "superseded"
        self.totals["error"] += 1
        self._counts[(stage, "error")] += 1
        if broker_reachable:
            self._errors.add(now)
        log.warning("commit_failed", stage=stage, failures=self._errors.count, error=repr(exc))
        if self._errors.fatal(self.max_failures, now, self.failing_s):
            log.error(
                "commits_failing",
                stage=stage,
                failures=self._errors.count,
                action="exiting so a restart resumes from the snapshots",
            )
            raise WorkerFailure(
                f"{self._errors.count} {stage} commits failed in a row: {exc!r}"
            ) from exc
        return "error"
