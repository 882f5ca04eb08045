"""Bursts of one entity (a customer, an address) against its own history and the population.

A per-series baseline for every customer ever seen would cost a series per customer;
most customers order once. :class:`EntityRates` keeps history only for entities that
were ever *busy* (``track_from`` orders in one window or, with a slow horizon, a decayed
count ``S`` of ``track_from``: a customer who orders every few hours, never twice in one
window, is busy too) and judges each window's count
``c`` of an entity on two horizons:

* **fast**: ``c`` against ``max(floor, upper(mu_c))``;
* **slow**: the entity's decayed count ``S`` (half-life ``slow_half_life_ms``, each
  order weighted ``1 / overlap`` because hopping windows see it ``overlap`` times)
  against ``max(slow_floor, upper(mu_S))``, so 8 orders spread over 80 minutes add
  up where no single window stands out. ``S`` counts every order from the entity's
  first: entities not (yet) busy keep only their decayed count, in :attr:`recent`,
  until it fades below ``recent_forget_below``.

For its first ``warmup_ms`` of event time (from :attr:`EntityRates.started_ms`) a state
only learns: on a fresh start every regular customer is new, judged against the
population's floors, and the second shop's first day paged 71 times at 1x and 188 at 3x,
all but a few on its heaviest regular customers. Entities that turn busy meanwhile are
judged against themselves from the end of the warm-up (their history counts from the
state's start, and as ``min_history_ms`` old by then).

``mu`` is what the entity's own history predicts: its long-run share of all orders
on this closer (decayed counts, half-life ``half_life_ms``) times the orders of the
same horizon now, so a pick-up point or a B2B account that is busy every day, and
busier in a promotion, is judged against itself. Until an entity has
``min_history_ms`` of history it is new and only the population floors apply.
``upper(mu) = (sqrt(mu + 3/8) + z / 2)^2 - 3/8`` is the Poisson band in the
Anscombe (1948) scale, whose variance is about 1.

Memory: one small list per tracked entity; at most ``max_entities`` (the least busy
go first) and entities whose decayed count fell below ``forget_below`` are dropped.
With a slow horizon, one more small list per entity that ordered in the last few
slow half-lives (``recent``; at most ``max_entities``, the lowest counts go first).

Examples
--------
>>> rates = EntityRates(window_ms=600_000, hop_ms=300_000)
>>> verdict = rates.close(600_000, {"new-customer": 7.0})
>>> verdict["new-customer"].violating
True
>>> rates.close(1_200_000, {"C-1": 1.0})["C-1"].violating
False
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_MAX_ENTITIES", "BurstVerdict", "EntityRates", "upper_bound"]

_DAY_MS = 86_400_000
#: Share of ``max_entities`` kept when the cap is exceeded.
_TRIM_TO = 0.9
#: Most entities one :class:`EntityRates` tracks unless told otherwise.
DEFAULT_MAX_ENTITIES = 20_000


@dataclass(frozen=True, slots=True)
class BurstVerdict:
    """One entity's window: its count, what was expected and the edge it crossed."""

    count: float
    expected: float
    upper: float
    violating: bool
    #: ``"fast"`` or ``"slow"``: the horizon that crossed (the fast one when both did).
    horizon: str | None
    #: How far past the edge, as a multiple of it (0 when not violating).
    excess: float
    #: The entity's decayed count of orders on the slow horizon, and its edge there
    #: (``inf`` without a slow horizon); filled in when violating or :attr:`held`.
    slow: float = 0.0
    slow_edge: float = math.inf
    #: Under both edges but not calm yet: an entity with an open episode whose decayed
    #: count is still above ``hold_below`` of its slow edge (hysteresis).
    held: bool = False


#: Quiet verdicts of keys without a history, by ``(count, edge)``: they depend on nothing
#: else, and a window judges thousands of them (a verdict is frozen, so one is shared).
_QUIET: dict[tuple[float, float], BurstVerdict] = {}
#: Counts from 0 up to this are shared; larger (or NaN) ones are rare and built anew.
_QUIET_COUNTS = 64.0


def _quiet(count: float, edge: float) -> BurstVerdict:
    """``BurstVerdict(count, 0.0, edge, False, None, 0.0)``, shared for small counts
    (not for ``-0.0``, which equals ``0.0`` as a key but is spelled apart)."""
    if not 0.0 <= count <= _QUIET_COUNTS or (count == 0.0 and math.copysign(1.0, count) < 0):
        return BurstVerdict(count, 0.0, edge, False, None, 0.0)
    verdict = _QUIET.get((count, edge))
    if verdict is None:
        if len(_QUIET) >= 4096:  # fractional counts or many floors: stay bounded
            _QUIET.clear()
        verdict = _QUIET[(count, edge)] = BurstVerdict(count, 0.0, edge, False, None, 0.0)
    return verdict


def upper_bound(mu: float, z: float) -> float:
    """Poisson band's upper edge for mean ``mu`` at ``z`` sigmas (Anscombe scale)."""
    return (math.sqrt(max(mu, 0.0) + 0.375) + z / 2.0) ** 2 - 0.375


@dataclass(slots=True)
class EntityRates:
    """Busy entities' histories for one dimension of the burst rule (see module doc)."""

    window_ms: int
    hop_ms: int
    floor: float = 4.5
    slow_floor: float = 5.0
    #: Sigmas of an entity's own band: many busy entities are judged every 5 minutes.
    z: float = 5.0
    track_from: float = 2.0
    half_life_ms: int = 7 * _DAY_MS
    slow_half_life_ms: int = 3_600_000
    min_history_ms: int = _DAY_MS
    max_entities: int = DEFAULT_MAX_ENTITIES
    forget_below: float = 0.05
    #: An entity with an open episode stays open while its decayed count is above this
    #: fraction of the slow edge: orders 12 minutes apart cross the edge and fall back
    #: under it between orders, and without this each crossing paged anew.
    hold_below: float = 0.75
    #: A not-busy entity's decayed count below which it is forgotten: one order counts
    #: 1, so what is dropped moves ``S`` by less than a fifth of an order.
    recent_forget_below: float = 0.2
    #: Decayed orders of all entities: ``[long, slow, as_of_ms]``.
    totals: list[float] = field(default_factory=lambda: [0.0, 0.0, -1.0])
    #: Per entity: ``[long, slow, as_of_ms, first_seen_ms]``.
    entities: dict[str, list[float]] = field(default_factory=dict)
    #: Per entity not (yet) tracked, with orders lately: ``[slow, as_of_ms]``; only
    #: kept when there is a slow horizon (a finite ``slow_floor``).
    recent: dict[str, list[float]] = field(default_factory=dict)
    #: Event time after the first window during which verdicts are quiet (learning only).
    warmup_ms: int = 0
    #: End of the first window this state closed (``None`` before it); a state saved
    #: before this was kept loads as started long ago.
    started_ms: float | None = None

    @property
    def overlap(self) -> float:
        """How many windows each event falls in (window / hop)."""
        return self.window_ms / self.hop_ms

    def close(
        self, end_ms: int, counts: Mapping[str, float], also: Iterable[str] = ()
    ) -> dict[str, BurstVerdict]:
        """Judge and learn one window ending at ``end_ms``; ``counts`` holds every key
        with orders in it. Returns a verdict for every key in ``counts`` and in ``also``,
        the keys with an open episode (no orders this window: count 0), which are
        :attr:`BurstVerdict.held` while their decayed count is above ``hold_below`` of
        its edge."""
        weight = 1.0 / self.overlap
        if self.started_ms is None:
            self.started_ms = float(end_ms)
        started = self.started_ms
        warming = end_ms - started < self.warmup_ms
        window_total = sum(counts.values())
        previous_end = self.totals[2]
        long_total, slow_total = self._decayed(self.totals, end_ms)
        slow_total_now = slow_total + weight * window_total
        out: dict[str, BurstVerdict] = {}
        judged = dict(counts)
        open_keys = set(also)
        for key in open_keys:
            judged.setdefault(key, 0.0)
        # Not-yet-busy keys' decayed counts, read once for judging and learning.
        earlier_of: dict[str, float] = {}
        for key, count in judged.items():
            state = self.entities.get(key)
            if state is not None:
                own_long, own_slow = self._decayed(state, end_ms)
            else:
                own_long, own_slow = 0.0, self._recent_slow(key, end_ms)
                earlier_of[key] = own_slow
            slow = own_slow + weight * count
            share = None
            if state is not None and end_ms - state[3] >= self.min_history_ms and long_total > 0:
                share = min(own_long / long_total, 1.0)
            if warming:
                out[key] = _quiet(count, max(self.floor, 0.0))
                continue
            out[key] = self._judge(
                count, slow, share, window_total, slow_total_now, is_open=key in open_keys
            )
        # Learn: every tracked entity's orders, and newly busy ones.
        self.totals[:] = [long_total + weight * window_total, slow_total_now, float(end_ms)]
        keep_recent = math.isfinite(self.slow_floor)
        for key, count in counts.items():
            state = self.entities.get(key)
            if state is None:
                earlier = earlier_of[key]
                slow_now = earlier + weight * count
                if count < self.track_from and not (keep_recent and slow_now >= self.track_from):
                    if keep_recent:
                        self.recent[key] = [slow_now, float(end_ms)]
                    continue
                self.recent.pop(key, None)
                # Busy during the warm-up: judged against itself from the warm-up's end
                # (its history counts from the state's start), not a day later.
                first_seen = (
                    started + self.warmup_ms - self.min_history_ms if warming else float(end_ms)
                )
                state = self.entities[key] = [0.0, earlier, float(end_ms), first_seen]
            own_long, own_slow = self._decayed(state, end_ms)
            state[0], state[1], state[2] = (
                own_long + weight * count,
                own_slow + weight * count,
                float(end_ms),
            )
        if len(self.entities) > self.max_entities:
            self._forget(end_ms)
        if self.recent:
            # Faded counts already read as 0: sweeping them once per half-life of event
            # time (not at every close) only bounds the memory, never changes a verdict.
            hl = self.slow_half_life_ms
            self._forget_recent(end_ms, sweep=end_ms // hl != int(previous_end) // hl)
        return out

    def _recent_slow(self, key: str, now_ms: int) -> float:
        """A not-busy entity's decayed count of orders (0 if it has none lately)."""
        entry = self.recent.get(key)
        if entry is None:
            return 0.0
        slow = self._slow_count(entry, now_ms)
        return slow if slow >= self.recent_forget_below else 0.0

    def _slow_count(self, entry: list[float], now_ms: int) -> float:
        """An entity's count of orders ``(count, as of)`` decayed to ``now_ms`` with the
        slow half-life."""
        age = max(now_ms - entry[1], 0.0)
        return float(entry[0] * 2.0 ** (-age / self.slow_half_life_ms))

    def _forget_recent(self, now_ms: int, *, sweep: bool) -> None:
        """With ``sweep``, drop not-busy entities whose count faded; then, over
        ``max_entities``, the lowest counts down to ``_TRIM_TO`` of it (a key flood costs a
        bounded dict)."""
        faded = []
        if sweep:
            faded = [
                key
                for key, entry in self.recent.items()
                if self._slow_count(entry, now_ms) < self.recent_forget_below
            ]
        for key in faded:
            del self.recent[key]
        if len(self.recent) > self.max_entities:
            ranked = sorted(
                self.recent, key=lambda key: (self._recent_slow(key, now_ms), key), reverse=True
            )
            keep = ranked[: int(self.max_entities * _TRIM_TO)]
            self.recent = {key: self.recent[key] for key in keep}
        elif faded and len(faded) > len(self.recent):
            self.recent = dict(self.recent)  # a dict keeps its table after deletions

    def _judge(
        self,
        count: float,
        slow: float,
        share: float | None,
        window_total: float,
        slow_total: float,
        *,
        is_open: bool = False,
    ) -> BurstVerdict:
        if share is None and count <= self.floor and slow <= self.slow_floor and not is_open:
            return _quiet(count, max(self.floor, 0.0))  # most keys: no history, under the floor
        mu_fast = share * window_total if share is not None else 0.0
        mu_slow = share * slow_total if share is not None else 0.0
        fast_edge = max(self.floor, upper_bound(mu_fast, self.z) if share is not None else 0.0)
        slow_edge = max(self.slow_floor, upper_bound(mu_slow, self.z) if share is not None else 0.0)
        if count > fast_edge:
            excess = (count - fast_edge) / fast_edge
            return BurstVerdict(count, mu_fast, fast_edge, True, "fast", excess, slow, slow_edge)
        if slow > slow_edge:
            excess = (slow - slow_edge) / slow_edge
            return BurstVerdict(count, mu_fast, fast_edge, True, "slow", excess, slow, slow_edge)
        held = is_open and slow > self.hold_below * slow_edge
        return BurstVerdict(count, mu_fast, fast_edge, False, None, 0.0, slow, slow_edge, held)

    def _decayed(self, state: list[float], now_ms: int) -> tuple[float, float]:
        if state[2] < 0:
            return 0.0, 0.0
        age = max(now_ms - state[2], 0.0)
        return (
            state[0] * 2.0 ** (-age / self.half_life_ms),
            state[1] * 2.0 ** (-age / self.slow_half_life_ms),
        )

    def _forget(self, now_ms: int) -> None:
        """Drop faded entities, then the least busy down to ``_TRIM_TO`` of
        ``max_entities``: the room left means a full cap sorts once per many new
        entities, not at every window."""
        self.sweep(now_ms)
        if len(self.entities) > self.max_entities:
            ranked = sorted(
                self.entities,
                key=lambda key: self._decayed(self.entities[key], now_ms)[0],
                reverse=True,
            )
            keep = ranked[: int(self.max_entities * _TRIM_TO)]
            self.entities = {key: self.entities[key] for key in keep}

    def sweep(self, now_ms: int) -> int:
        """Drop entities whose decayed count fell below ``forget_below``; return how many."""
        before = len(self.entities)
        self.entities = {
            key: s
            for key, s in self.entities.items()
            if self._decayed(s, now_ms)[0] >= self.forget_below
        }
        return before - len(self.entities)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (configuration excluded)."""
        return {
            "totals": list(self.totals),
            "entities": self.entities,
            "recent": self.recent,
            "started_ms": self.started_ms,
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`to_dict`'s state."""
        self.totals = [float(x) for x in data["totals"]]
        self.entities = {str(k): [float(x) for x in v] for k, v in data["entities"].items()}
        self.recent = {str(k): [float(x) for x in v] for k, v in data.get("recent", {}).items()}
        started = data.get("started_ms", 0.0)  # saved before it was kept: long started
        self.started_ms = None if started is None else float(started)
