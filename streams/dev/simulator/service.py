"""Customer-service tickets and their waits, growing with load.

Tickets arrive in proportion to order traffic (``tickets_per_order``), split by queue,
contact channel and region. Staffing follows the seasonal forecast only partly, so the
utilisation ``rho`` rises from about 0.5 at night to 0.75 at the evening peak (and higher
on noisy busy days). The median wait scales with the queueing factor ``rho / (1 - rho)``
(the M/M/1 mean-wait shape, Kleinrock 1975), normalised to 1 at ``rho = 0.5``; waits are
log-normal around it. A :class:`~streams.dev.simulator.incidents.WaitTimeSurge` multiplies a
queue's waits by its magnitude and its arrivals by 1.3. A planned promotion is staffed
for: it raises arrivals but not the utilisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.incidents import (
    HandleTimeSurge,
    Incident,
    SatisfactionDrop,
    WaitTimeSurge,
    window_ms,
)
from streams.dev.simulator.orders import _cdf, _pick
from streams.dev.simulator.timefmt import MS_PER_DAY

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MEDIAN_WAIT_S = {"chat": 40.0, "phone": 75.0, "email": 240.0}

MEDIAN_HANDLE_S = {"chat": 300.0, "phone": 420.0, "email": 200.0}
_PEAK_INTENSITY = 2.3
#: Log-sd of one wait around its channel's median at the queue's load.
WAIT_LOG_SIGMA = 0.8


def median_wait_s(channel: str) -> float:
    """A contact channel's median wait at ``rho = 0.5``, in seconds (120 for one not listed)."""
    return MEDIAN_WAIT_S.get(channel, 120.0)


def queue_load(intensity: float, staffed: float = 1.0) -> float:
    """The waits' multiplier ``rho / (1 - rho)`` at traffic ``intensity`` (mean 1), for a
    team staffed for ``staffed`` times the usual load: ``rho`` runs from about 0.5 at
    night to 0.75 at the evening peak (see the module docstring)."""
    rho = 0.45 + 0.3 * min(intensity / staffed / _PEAK_INTENSITY, 1.3)
    return rho / (1.0 - rho)


@dataclass(slots=True)
class TicketBatch:
    """Arrays for the tickets answered from one step's arrivals."""

    answered: IntArray
    queue: IntArray
    channel: IntArray
    region: IntArray
    wait_seconds: FloatArray
    handle_seconds: FloatArray


#: Share of tickets whose customer answers the satisfaction survey.
CSAT_RESPONSE = 0.4
#: P(csat <= 2) at a short wait; it grows with the wait (log scale) up to about 0.3.
CSAT_LOW_BASE = 0.06


def csat_ratings(
    rng: np.random.Generator,
    queue: IntArray,
    answered: IntArray,
    wait: FloatArray,
    drops: list[tuple[int, int, int, float]],
) -> IntArray:
    """Satisfaction ratings 1..5 of a batch of tickets (0: no answer), from their own
    random stream so the rest of the simulation is unchanged.

    P(low) = ``CSAT_LOW_BASE`` x (1 + 0.5 ln(1 + wait / 300 s)), times a
    :class:`~streams.dev.simulator.incidents.SatisfactionDrop`'s magnitude in its window
    (at most 0.9); a low rating is 1 or 2, a good one 3, 4 or 5 (weights 2:4:4).
    """
    n = len(queue)
    draws = rng.random((n, 3))
    p_low = CSAT_LOW_BASE * (1.0 + 0.5 * np.log1p(wait / 300.0))
    for q, start, end, magnitude in drops:
        hit = (queue == q) & (answered >= start) & (answered < end)
        p_low = np.where(hit, p_low * magnitude, p_low)
    p_low = np.minimum(p_low, 0.9)
    low = draws[:, 1] < p_low
    rating = np.where(
        low,
        np.where(draws[:, 2] < 0.5, 1, 2),
        np.where(draws[:, 2] < 0.2, 3, np.where(draws[:, 2] < 0.6, 4, 5)),
    )
    return np.where(draws[:, 0] < CSAT_RESPONSE, rating, 0).astype(np.int64)


class ServiceModel:
    """Draws one step's tickets; see the module docstring for the model."""

    def __init__(self, config: SimulationConfig, incidents: tuple[Incident, ...]) -> None:
        self.queue_names = tuple(q for q, _ in config.queues)
        self.channel_names = tuple(c for c, _ in config.contact_channels)
        self.region_names = tuple(r.name for r in config.regions)
        self.queue_cdf = _cdf([w for _, w in config.queues])
        self.channel_cdf = _cdf([w for _, w in config.contact_channels])
        self.region_cdf = _cdf([r.weight for r in config.regions])
        self.median_wait = np.array([median_wait_s(c) for c in self.channel_names])
        self.median_handle = np.array([MEDIAN_HANDLE_S.get(c, 300.0) for c in self.channel_names])
        self.per_day = config.orders_per_day * config.tickets_per_order
        self.surges = [
            (self.queue_names.index(inc.queue), *window_ms(inc), inc.magnitude)
            for inc in incidents
            if isinstance(inc, WaitTimeSurge) and inc.queue is not None
        ]
        self.handle_surges = [
            (self.queue_names.index(inc.queue), *window_ms(inc), inc.magnitude)
            for inc in incidents
            if isinstance(inc, HandleTimeSurge) and inc.queue is not None
        ]
        self.csat_drops = [
            (self.queue_names.index(inc.queue), *window_ms(inc), inc.magnitude)
            for inc in incidents
            if isinstance(inc, SatisfactionDrop) and inc.queue is not None
        ]

    def tickets(
        self,
        rng: np.random.Generator,
        t0: int,
        step_ms: int,
        intensity: float,
        staffed: float = 1.0,
    ) -> TicketBatch:
        """Tickets arriving in ``[t0, t0 + step_ms)`` at traffic ``intensity`` (mean 1).

        ``staffed`` is the extra load the team was staffed for (a planned promotion's
        factor): it raises arrivals, not waits.
        """
        expected = self.per_day * step_ms / MS_PER_DAY * intensity
        n = int(rng.poisson(expected))
        arrival = t0 + rng.integers(0, step_ms, n)
        queue = _pick(rng, self.queue_cdf, n)
        for q, start, end, _ in self.surges:
            lo, hi = max(start, t0), min(end, t0 + step_ms)
            if lo < hi:
                share = float(self.queue_cdf[q] - (self.queue_cdf[q - 1] if q else 0.0))
                extra = int(rng.poisson(0.3 * expected * share * (hi - lo) / step_ms))
                arrival = np.concatenate([arrival, rng.integers(lo, hi, extra)])
                queue = np.concatenate([queue, np.full(extra, q, dtype=np.int64)])
        n = len(arrival)
        channel = _pick(rng, self.channel_cdf, n)
        region = _pick(rng, self.region_cdf, n)
        wait = (
            self.median_wait[channel]
            * queue_load(intensity, staffed)
            * rng.lognormal(0.0, WAIT_LOG_SIGMA, n)
        )
        for q, start, end, magnitude in self.surges:
            hit = (queue == q) & (arrival >= start) & (arrival < end)
            wait = np.where(hit, wait * magnitude, wait)
        wait = np.round(wait, 1)
        handle = self.median_handle[channel] * rng.lognormal(0.0, 0.5, n)
        for q, start, end, magnitude in self.handle_surges:  # no draws: same stream as before
            hit = (queue == q) & (arrival >= start) & (arrival < end)
            handle = np.where(hit, handle * magnitude, handle)
        handle = np.round(handle, 1)
        answered = arrival + (wait * 1000).astype(np.int64)
        return TicketBatch(answered, queue, channel, region, wait, handle)
