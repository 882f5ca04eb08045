"""Broker outages: what the broker probe saw, and Kafka writes that wait an outage out.

Every process of a worker (the parent and each intake child) probes the broker every
``PROBE_INTERVAL_S`` (a metadata request that must answer within ``PROBE_TIMEOUT_S``)
and records the answer in a :class:`BrokerState`. aiokafka retries fetches and commits
by itself while the broker is away, but a produce request that gets no answer within
the client's ``request_timeout_ms`` (40 s) fails, and so did the worker: a broker frozen
for ~40 s or more killed whichever process was writing at that moment (an intake
child sending partials, or the closer publishing alerts), and with it the worker.

:func:`through_outages` runs such a write and, when it failed while the probe saw the
broker unreachable (during the attempt, or within one probe cycle after it), waits
until the probe sees the broker again and runs it once more. A failure with the broker
answering throughout is not an outage and is raised as before. There is no limit on
how long an outage is waited out, as for the parent's loops before (the shipped
``AftersalesBrokerDisconnected`` rule pages after 2 minutes). Retried writes are
at-least-once: every record the intake writes is idempotent at the closer (first
partial per source wins, per-event verdicts once per event id, watermarks only move
forward, risk facts once per event id), and the closer reads back the alerts already
on the topic before it publishes again (``before_retry``).

Examples
--------
>>> state = BrokerState(clock=lambda: 10.0)
>>> state.reachable, state.outage_since(5.0)
(True, False)
>>> state.observe(reachable=False)
>>> state.reachable, state.outage_since(5.0), state.outage_since(11.0)
(False, True, True)
>>> state.observe(reachable=True)
>>> state.outage_since(5.0), state.outage_since(11.0)
(True, False)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError

from streams.logs import get_logger

__all__ = [
    "PROBE_INTERVAL_S",
    "PROBE_TIMEOUT_S",
    "BrokerState",
    "through_outages",
]

log = get_logger(__name__)

#: Seconds between two broker probes (parent and intake children alike).
PROBE_INTERVAL_S = 2.0
#: Seconds a probe's metadata request may take before the broker counts as unreachable.
PROBE_TIMEOUT_S = 3.0

#: What a Kafka write raises when the broker does not answer.
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (KafkaError, TimeoutError, OSError)

T = TypeVar("T")


class BrokerState:
    """Whether the broker answered the latest probe, and when it last did not.

    Parameters
    ----------
    clock
        Monotonic clock in seconds (tests inject one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        #: Whether the latest probe got an answer.
        self.reachable = True
        #: When a probe last found the broker unreachable (monotonic; -inf: never).
        self.last_unreachable = -math.inf
        self._changed = asyncio.Event()

    def observe(self, *, reachable: bool) -> None:
        """Record one probe's outcome."""
        if not reachable:
            self.last_unreachable = self.clock()
        if reachable != self.reachable:
            self.reachable = reachable
            self._changed.set()
            self._changed = asyncio.Event()

    def outage_since(self, started: float) -> bool:
        """Whether the broker is unreachable now or was at any probe after ``started``."""
        return not self.reachable or self.last_unreachable >= started

    async def wait_reachable(self) -> None:
        """Return once a probe has found the broker again (at once if it answers now)."""
        while not self.reachable:
            await self._changed.wait()

    async def confirm_outage(self, started: float, within_s: float) -> bool:
        """Whether a probe sees an outage after ``started``, waiting up to ``within_s``
        for one (a write can fail before the next probe has run)."""
        deadline = self.clock() + within_s
        while not self.outage_since(started):
            if self.clock() >= deadline:
                return False
            await asyncio.sleep(0.25)
        return True


async def through_outages(
    attempt: Callable[[], Awaitable[T]],
    broker: BrokerState,
    what: str,
    *,
    before_retry: Callable[[], Awaitable[None]] | None = None,
    confirm_s: float = PROBE_INTERVAL_S + PROBE_TIMEOUT_S,
) -> T:
    """Run ``attempt``; if it fails during a broker outage, wait the outage out and run it
    again (first ``before_retry``, e.g. to find what the failed attempt wrote after all).

    Raises what ``attempt`` raised when the broker answered throughout (no probe saw it
    unreachable during the attempt or within ``confirm_s`` after it).
    """
    retries = 0
    while True:
        started = broker.clock()
        try:
            if retries and before_retry is not None:
                await before_retry()
            result = await attempt()
        except _OUTAGE_ERRORS as exc:
            if not await broker.confirm_outage(started, confirm_s):
                raise
            retries += 1
            log.warning(
                "kafka_write_waiting",
                what=what,
                error=repr(exc)[:300],
                retries=retries,
                action="the broker is unreachable: retrying once it answers",
            )
            await broker.wait_reachable()
            continue
        if retries:
            log.info("kafka_write_resumed", what=what, retries=retries)
        return result
