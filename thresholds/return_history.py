"""Frequent returners: a customer's returns in a rolling 30 days against the population.

Most customers never return anything, so :class:`ReturnHistory` keeps state only for
customers with a return inside the horizon: per customer, one bucket per window with
activity, ``[window_end_ms, returns, deliveries]``; the rolling sums are exact at the
window's granularity (buckets older than ``horizon_ms`` drop out). Deliveries are
counted from the customer's first tracked return on, so ``n = max(deliveries, returns)``
(every return was delivered once, perhaps before tracking began).

The population is the return rate of every delivery this closer saw (decayed counts,
half-life ``half_life_ms``, shrunk to a Beta(1, 9) prior while deliveries are few):
``p = (R + 1) / (D + 10)``. A customer's window is judged by the binomial upper tail
``P(X >= r | n, p)`` of its ``r`` returns out of ``n``; it violates when that tail is
below ``alpha = Phi(-z)`` and ``r`` is above ``min_count``. Reported edge: the smallest
``r`` that would violate. A customer with an open episode (``also``) stays violating
until its tail rises above ``Phi(-(z - hold_sigmas))``: the population's rate drifts a
little every hour, and without this margin a customer on the edge flaps.

Memory: at most ``max_entities`` customers (the fewest returns, then the oldest go
first); a customer whose buckets all left the horizon is dropped at the next sweep.

Examples
--------
>>> history = ReturnHistory(window_ms=3_600_000)
>>> _ = history.close(3_600_000, {"C-0": (0.0, 1_000.0)})  # a population of 10 % returns
>>> verdict = history.close(7_200_000, {"C-1": (8.0, 8.0)})
>>> verdict["C-1"].violating, verdict["C-1"].count
(True, 8.0)
>>> history.close(10_800_000, {"C-2": (1.0, 2.0)})["C-2"].violating
False
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from thresholds.entity_rate import BurstVerdict
from thresholds.tails import binomial_tail

__all__ = ["DEFAULT_HORIZON_MS", "ReturnHistory"]

_DAY_MS = 86_400_000
#: The rolling horizon of a customer's returns.
DEFAULT_HORIZON_MS = 30 * _DAY_MS
#: Beta prior of the population's return rate: one return in ten deliveries.
_PRIOR_RETURNS, _PRIOR_DELIVERIES = 1.0, 10.0


def _tail(z: float) -> float:
    """One-sided normal tail ``Phi(-z)``."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(slots=True)
class ReturnHistory:
    """Rolling 30-day returns of customers who return, judged against the population."""

    window_ms: int
    min_count: float = 5.0
    #: Sigmas of the one-sided binomial tail (``alpha = Phi(-z)``).
    z: float = 4.75
    horizon_ms: int = DEFAULT_HORIZON_MS
    #: How much easier the edge of an open episode is, in sigmas (hysteresis).
    hold_sigmas: float = 1.5
    half_life_ms: int = 7 * _DAY_MS
    max_entities: int = 20_000
    #: Decayed population counts: ``[returns, deliveries, as_of_ms]``.
    totals: list[float] = field(default_factory=lambda: [0.0, 0.0, -1.0])
    #: Per customer: buckets ``[window_end_ms, returns, deliveries]``, oldest first.
    entities: dict[str, list[list[float]]] = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        """The one-sided tail probability of ``z``."""
        return _tail(self.z)

    def rate(self) -> float:
        """The population's return rate per delivery (shrunk to the prior)."""
        returns, deliveries = self.totals[0], self.totals[1]
        return (returns + _PRIOR_RETURNS) / (deliveries + _PRIOR_DELIVERIES)

    def close(
        self, end_ms: int, counts: Mapping[str, tuple[float, float]], also: Iterable[str] = ()
    ) -> dict[str, BurstVerdict]:
        """Learn and judge one window ending at ``end_ms``. ``counts`` maps every customer
        with returns or deliveries in it to ``(returns, deliveries)``; ``also`` names
        customers to judge without activity (an open episode). Returns a verdict for
        every tracked customer in ``counts`` and ``also``."""
        self._learn_population(end_ms, counts)
        cutoff = end_ms - self.horizon_ms
        holding = set(also)
        judged: set[str] = set(holding)
        for key, (returns, deliveries) in counts.items():
            buckets = self.entities.get(key)
            if buckets is None:
                if returns <= 0:
                    continue  # deliveries of customers who never returned: population only
                buckets = self.entities[key] = []
            buckets.append([float(end_ms), float(returns), float(deliveries)])
            judged.add(key)
        p = self.rate()
        out: dict[str, BurstVerdict] = {}
        for key in sorted(judged):
            buckets = self.entities.get(key)
            if buckets is None:
                out[key] = BurstVerdict(0.0, 0.0, self.min_count, False, None, 0.0)
                continue
            while buckets and buckets[0][0] <= cutoff:
                buckets.pop(0)
            returns = sum(b[1] for b in buckets)
            deliveries = sum(b[2] for b in buckets)
            out[key] = self._judge(returns, deliveries, p, key in holding)
        if len(self.entities) > self.max_entities:
            self._forget(end_ms)
        return out

    def _learn_population(self, end_ms: int, counts: Mapping[str, tuple[float, float]]) -> None:
        returns = sum(r for r, _ in counts.values())
        deliveries = sum(d for _, d in counts.values())
        old_r, old_d, as_of = self.totals
        decay = 1.0 if as_of < 0 else 2.0 ** (-max(end_ms - as_of, 0.0) / self.half_life_ms)
        self.totals[:] = [old_r * decay + returns, old_d * decay + deliveries, float(end_ms)]

    def _judge(self, returns: float, deliveries: float, p: float, holding: bool) -> BurstVerdict:
        r = round(returns)
        n = max(round(deliveries), r)
        expected = n * p
        edge = self._edge(n, p, _tail(self.z - self.hold_sigmas) if holding else self.alpha)
        violating = r > self.min_count and r >= edge
        excess = (r - edge) / edge if violating and edge > 0 else 0.0
        return BurstVerdict(
            float(r), expected, float(edge), violating, "horizon" if violating else None, excess
        )

    def _edge(self, n: int, p: float, alpha: float) -> float:
        """The fewest returns of ``n`` deliveries whose tail is below ``alpha`` (``n + 1``
        when none is), never below ``min_count``."""
        low = max(math.floor(self.min_count) + 1, math.ceil(n * p))
        for r in range(low, n + 1):
            if binomial_tail(r, n, p) < alpha:
                return float(r)
        return float(max(n + 1, low))

    def sweep(self, now_ms: int) -> int:
        """Drop buckets that left the horizon and customers left without any."""
        cutoff = now_ms - self.horizon_ms
        before = len(self.entities)
        kept: dict[str, list[list[float]]] = {}
        for key, buckets in self.entities.items():
            fresh = [b for b in buckets if b[0] > cutoff]
            if fresh:
                kept[key] = fresh
        self.entities = kept
        return before - len(kept)

    def _forget(self, now_ms: int) -> None:
        """Sweep, then keep the 90 % of ``max_entities`` with the most returns (newest
        activity breaks ties): a full cap sorts once per many new customers."""
        self.sweep(now_ms)
        if len(self.entities) > self.max_entities:
            ranked = sorted(
                self.entities.items(),
                key=lambda item: (sum(b[1] for b in item[1]), item[1][-1][0], item[0]),
                reverse=True,
            )
            self.entities = dict(ranked[: int(self.max_entities * 0.9)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (configuration excluded)."""
        return {"totals": list(self.totals), "entities": self.entities}

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`to_dict`'s state."""
        self.totals = [float(x) for x in data["totals"]]
        self.entities = {
            str(k): [[float(x) for x in b] for b in v] for k, v in data["entities"].items()
        }
