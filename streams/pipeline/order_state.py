"""Per-order lifecycle state of one orders partition: what the logistics rules measure.

Size: one order book: the lifecycle times of a partition's orders, the carriers' transit
norms learned from them, lost-parcel deadlines and their binary snapshot; they share the
order records.

Orders are keyed by ``order_id``, so every event of one order lands in one input
partition and one :class:`OrderBook` sees them all, in the partition's order. The book
keeps, per order, the times that later events are measured from:

* ``shipped`` -> ``delivered``: transit hours (``delivery_time_p90``), whether the
  parcel came after ``promised_at`` (``late_delivery_share``; without a promise, after
  the cell's usual p90 transit), and the per-cell transit history that ``lost_parcel``
  compares open shipments with;
* ``return_requested`` / ``exchange_requested`` / ``cancelled`` -> ``refunded``: refund
  delay hours (``refund_delay_p90``).

Bounded: at most ``max_orders`` entries (the least recently touched go first, counted as
``cap`` evictions) and none untouched for ``ttl_ms`` of event time (``ttl``). A finished
order (delivered and not waiting for a refund, or refunded) is kept ``keep_done_ms`` so
that re-reading its final event after a restart measures it again (the window it fed
was not in the snapshot). Pure code: the Kafka runtime and ``replay`` get the same facts.

A parcel is *overdue* when it is still undelivered ``lost_factor`` times its cell's p90
transit time after it shipped. Deadlines sit in a heap (event time), checked from 0.8 x
the deadline, then hourly, against the cell's p90 of that moment, so a cell that slows
down as a whole pushes its deadlines out instead of flagging every parcel, and one that
speeds up reports on time. A verdict is stamped no earlier than just after the previous
check's watermark (a window downstream may have closed before it).

An overdue parcel is reported *lost* (``lost_parcel``) at once when its cell has more
parcels overdue within :data:`CORROBORATION_MS` than stragglers explain: the count of
the others is judged by its exact Poisson tail against :data:`LATE_ARRIVAL_RATE` times
the cell's shipments in that span (below :data:`CORROBORATION_P`, all of them are
reported). A lone overdue parcel is reported at its deadline too where most lone
overdue parcels of the partition stayed lost (:meth:`OrderBook.lone_losses_likely`),
else only at ``lost_alone`` (:data:`LONE_FACTOR`) times its deadline. Transit times
with a log-normal spread of 0.3 and daytime, six-day delivery put 1-3e-4 of the parcels
past 1.9 x p90 and under 1e-5 past 2.85 x p90 (a Monte Carlo of the simulator's
delivery model): reported at the deadline, each of those was a false trace request,
2.3 a day at 20,000 orders a day, while a lost wave (a carrier losing a share of what
it ships) corroborates itself within its first hour.

A carrier whose transit times have a heavy tail delivers some parcels after any fixed
multiple of its p90: each of them is overdue and then arrives. So every cell counts
its deliveries and, of the parcels overdue that arrived after all, how many came
after each rung of :data:`TAIL_RUNGS` x the configured deadline. Its deadline is the
lowest rung whose count is plausible for a late-arrival rate of
:data:`LATE_ARRIVAL_RATE` (an exact Poisson tail test). On a thin-tailed cell that is
the first rung, ``lost_factor`` x p90 itself.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np

from streams.contract.events import OrderEvent
from streams.exceptions import InvalidEvent
from thresholds.tails import poisson_tail

__all__ = ["LostParcel", "OrderBook", "OrderFacts", "TransitNorms"]

_NONE: Final = -(1 << 63)
_MS_PER_HOUR: Final = 3_600_000
#: Transit times kept per cell (the newest); the p90 is read from them.
CELL_HISTORY: Final = 256
#: The time a cell's kept transit times should cover: a cell delivering more than
#: :data:`CELL_HISTORY` parcels in it keeps an evenly spaced share of its deliveries.
#: Deliveries come in daytime rounds, and a morning's parcels took less time than an
#: evening's (shipped early, delivered early), so newest-256 histories of a busy cell
#: covered an hour or two and their p90 swung with the hour: 74-101 h within one day of
#: a cell whose p90 over the day is 90-95 h (3,900 deliveries a day). Deadlines are
#: re-checked hourly, so they met the cycle's low: parcels of that cell flagged lost on
#: a Sunday morning arrived later that day (quality matrix, 3x, TUNE seed 4).
HISTORY_SPAN_MS: Final = 24 * 3_600_000
#: Cells (region, carrier) with their own history; more share the whole partition's.
MAX_CELLS: Final = 10_000
#: Deliveries a cell needs before its own p90 is used (before that: the partition's).
MIN_CELL_SAMPLES: Final = 20
#: Multiples of the configured deadline (``lost_factor`` x p90) a cell may move out to
#: when its deliveries keep arriving after the shorter ones.
TAIL_RUNGS: Final = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
#: The rate of deliveries after its deadline that a cell may show: a higher one, beyond
#: Poisson noise, moves the deadline to the next rung. At 9,000 deliveries a day this is
#: 4.5 parcels a day flagged lost that then arrive.
LATE_ARRIVAL_RATE: Final = 5e-4
#: A count with a Poisson tail probability below this is "beyond noise".
_TAIL_TEST_P: Final = 0.01
#: How far back (event time) overdue parcels of a cell corroborate each other, and the
#: time constant of the cell's shipment rate that the expected stragglers scale with.
CORROBORATION_MS: Final = 24 * 3_600_000
#: Poisson tail probability under which a cell's overdue parcels are more than stragglers.
CORROBORATION_P: Final = 1e-3
#: A lone overdue parcel (not corroborated) is reported at this multiple of its deadline
#: (the default of the rules file's ``lost_alone_after``).
LONE_FACTOR: Final = 1.5
#: A shipment's deadline is first checked at this share of it (the cell's p90 then), then
#: hourly: a p90 that falls meanwhile would otherwise delay the report past the deadline
#: it implies. A cell's p90 over its newest 256 deliveries fell by a sixth within the ten
#: hours between two checks halfway apart (a Friday's quick deliveries; seed 3 of the
#: default scenario), and a lost parcel was reported at 2.10 x p90 instead of 1.9.
_FIRST_CHECK: Final = 0.8
#: Lone outcomes counted before both counts are halved (recent ones weigh more).
_LONE_HALVE_AT: Final = 200.0
#: Deliveries counted per cell before all its counts are halved (older ones weigh less,
#: so a carrier that improves moves its deadline back in).
_TAIL_HALVE_AT: Final = 20_000
_ALL: Final = "*"
_REFUND_FROM: Final = frozenset({"return_requested", "exchange_requested", "cancelled"})


class OrderFacts(NamedTuple):
    """What one order event adds to the logistics rules (``None``: nothing)."""

    transit_hours: float | None = None
    late: bool | None = None
    refund_hours: float | None = None


class LostParcel(NamedTuple):
    """A shipment still undelivered past its deadline (``factor`` x ``p90_hours``)."""

    order_id: str
    shipped_ms: int
    due_ms: int
    p90_hours: float
    factor: float
    cell: str
    carrier: str | None
    region: str | None


@dataclass(slots=True)
class _Order:
    touched_ms: int
    shipped_ms: int = _NONE
    promised_ms: int = _NONE
    delivered_ms: int = _NONE
    refund_from_ms: int = _NONE
    refunded_ms: int = _NONE
    #: The lost-parcel deadline in force (persisted, so a restored heap checks at the same
    #: event times as the run it continues).
    due_ms: int = _NONE
    lost: bool = False
    #: Past its deadline, not (yet) reported lost: waiting for corroboration or for
    #: :data:`LONE_FACTOR` x its deadline.
    overdue: bool = False
    #: Reported lost alone (not corroborated): it counts as a lone loss until it arrives.
    alone: bool = False
    carrier: str | None = None
    region: str | None = None

    def done(self) -> bool:
        """Nothing more to measure: delivered (or never shipped) and no refund pending."""
        if self.refund_from_ms != _NONE:
            return self.refunded_ms != _NONE
        return self.delivered_ms != _NONE or self.refunded_ms != _NONE


def cell_of(region: str | None, carrier: str | None) -> str:
    """The transit cell of an order: ``region,carrier`` (``?`` for a missing part)."""
    return f"{region or '?'},{carrier or '?'}"


class TransitNorms:
    """Per cell, the newest :data:`CELL_HISTORY` kept transit times (hours) and their p90.

    The p90 is the nearest-rank quantile of the kept values (Hyndman & Fan 1996,
    definition 1), read from a copy kept in order; a cell with fewer than
    :data:`MIN_CELL_SAMPLES` values answers with the whole partition's. A delivery given
    its time (``at_ms``) is kept with probability ``min(1, CELL_HISTORY / n)``, ``n``
    the cell's deliveries in about the last :data:`HISTORY_SPAN_MS` (exponentially
    decayed), by a deterministic credit count (every k-th one, not a random draw), so
    the kept values spread over about that span however busy the cell is.

    Examples
    --------
    >>> norms = TransitNorms()
    >>> for h in range(1, 101):
    ...     norms.add("north,ACME", float(h))
    >>> norms.p90("north,ACME"), norms.p90("south,ACME")
    (90.0, 90.0)
    """

    def __init__(self, lost_factor: float | None = None) -> None:
        self.history: dict[str, deque[float]] = {}
        #: The same values in ascending order (kept by insertion), so a p90 is one lookup.
        self._sorted: dict[str, list[float]] = {}
        #: ``lost_factor`` x :data:`TAIL_RUNGS`, the deadlines (in p90s) a cell may use;
        #: empty without a lost-parcel rule.
        self.rungs: tuple[float, ...] = (
            () if lost_factor is None else tuple(lost_factor * r for r in TAIL_RUNGS)
        )
        #: Per cell: deliveries counted, then how many came after each rung x its p90.
        self.tails: dict[str, list[float]] = {}
        self._rung: dict[str, float] = {}
        #: Per cell: ``[deliveries (decayed), event time of that value, keep credit]``.
        self.pace: dict[str, list[float]] = {}

    def add(
        self, cell: str, hours: float, *, flagged: bool = False, at_ms: int | None = None
    ) -> None:
        """Record one delivery's transit time in its cell and in the partition's.

        ``flagged``: the parcel had been reported lost. Its transit then counts on every
        rung it exceeded; deliveries that were never flagged only count as deliveries (a
        cell that slows down as a whole moves its deadlines out first, so its slow parcels
        are not counted as a tail). ``at_ms``: when it was delivered; a busy cell keeps
        only a share of its deliveries (see the class); without it every one is kept.
        """
        for key in (cell, _ALL):
            ring = self.history.get(key)
            if ring is None:
                if len(self.history) >= MAX_CELLS + 1:
                    continue
                ring = self.history[key] = deque(maxlen=CELL_HISTORY)
                self._sorted[key] = []
            ordered = self._sorted[key]
            if self.rungs and len(ordered) >= MIN_CELL_SAMPLES:
                self._count_tail(key, hours / _p90_of(ordered) if flagged else 0.0)
            if at_ms is not None and not self._keep(key, at_ms):
                continue
            if len(ring) == CELL_HISTORY:
                del ordered[bisect.bisect_left(ordered, ring[0])]
            ring.append(hours)
            bisect.insort(ordered, hours)

    def _keep(self, key: str, at_ms: int) -> bool:
        """Whether the cell keeps this delivery: a credit of ``CELL_HISTORY / n`` per
        delivery (at most 1), one kept per whole credit."""
        pace = self.pace.get(key)
        if pace is None:
            pace = self.pace[key] = [0.0, float(at_ms), 0.0]
        _count_decayed(pace, at_ms, HISTORY_SPAN_MS)
        pace[2] += min(1.0, CELL_HISTORY / pace[0])
        if pace[2] < 1.0:
            return False
        pace[2] -= 1.0
        return True

    def _count_tail(self, key: str, ratio: float) -> None:
        counts = self.tails.get(key)
        if counts is None:
            counts = self.tails[key] = [0.0] * (len(self.rungs) + 1)
        counts[0] += 1.0
        for i, rung in enumerate(self.rungs, 1):
            if ratio <= rung:
                break
            counts[i] += 1.0
        if counts[0] >= _TAIL_HALVE_AT:
            counts[:] = [c / 2.0 for c in counts]
        self._rung.pop(key, None)

    def _key(self, cell: str) -> str:
        ordered = self._sorted.get(cell)
        return cell if ordered is not None and len(ordered) >= MIN_CELL_SAMPLES else _ALL

    def p90(self, cell: str) -> float | None:
        """The cell's usual p90 transit (hours), or ``None`` with too little history."""
        ordered = self._sorted.get(self._key(cell))
        if ordered is None or len(ordered) < MIN_CELL_SAMPLES:
            return None
        return _p90_of(ordered)

    def deadline_factor(self, cell: str) -> float:
        """The cell's lost-parcel deadline in p90s: the lowest rung its late arrivals allow.

        A rung passes unless its count of deliveries after it is implausible (exact Poisson
        tail below :data:`_TAIL_TEST_P`) for :data:`LATE_ARRIVAL_RATE` of the deliveries
        counted; no rung passing means the last one.
        """
        key = self._key(cell)
        factor = self._rung.get(key)
        if factor is None:
            factor = self._rung[key] = self._lowest_rung(self.tails.get(key))
        return factor

    def _lowest_rung(self, counts: list[float] | None) -> float:
        if not self.rungs:
            msg = "no lost-parcel deadline without a lost_factor"
            raise ValueError(msg)
        if counts is None:
            return self.rungs[0]
        expected = LATE_ARRIVAL_RATE * counts[0]
        for rung, late in zip(self.rungs, counts[1:], strict=True):
            if poisson_tail(math.floor(late), expected) >= _TAIL_TEST_P:
                return rung
        return self.rungs[-1]

    def to_json(self) -> dict[str, list[float]]:
        """The kept histories, oldest first."""
        return {key: list(ring) for key, ring in sorted(self.history.items())}

    def load(
        self,
        data: dict[str, list[float]],
        tails: dict[str, list[float]],
        pace: dict[str, list[float]] | None = None,
    ) -> None:
        """Inverse of :meth:`to_json`, of :attr:`tails` and of :attr:`pace` (empty for
        older snapshots)."""
        self.history = {key: deque(values, maxlen=CELL_HISTORY) for key, values in data.items()}
        self._sorted = {key: sorted(ring) for key, ring in self.history.items()}
        width = len(self.rungs) + 1
        self.tails = {key: list(c) for key, c in tails.items() if len(c) == width}
        self._rung = {}
        self.pace = {key: [float(v) for v in p] for key, p in (pace or {}).items() if len(p) == 3}


def _count_decayed(state: list[float], at_ms: int, tau_ms: int) -> None:
    """Add one to ``state = [count, at_ms, ...]``, a count decayed with time constant
    ``tau_ms`` of event time, and move its time to ``at_ms`` (never back)."""
    at = max(state[1], float(at_ms))
    state[0] = state[0] * math.exp(-(at - state[1]) / tau_ms) + 1.0
    state[1] = at


def _p90_of(ordered: list[float]) -> float:
    """Nearest-rank 0.9 quantile of ascending values (Hyndman & Fan 1996, definition 1)."""
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


class OrderBook:
    """Lifecycle times of the orders of one partition, bounded, with lost-parcel deadlines.

    Parameters
    ----------
    max_orders
        Most orders kept; the least recently touched are evicted beyond it.
    ttl_ms
        An order untouched for this long (event time) is evicted.
    keep_done_ms
        A finished order is kept this long after its last event (event time).
    lost_factor
        A parcel is lost after ``lost_factor`` x its cell's p90 transit; ``None``: no
        lost-parcel deadlines are kept.
    lost_warmup_ms
        No parcel is reported lost before the book has seen this much event time: until
        then its transit history holds only the deliveries of shipments it saw, which
        undercounts long transits (survivorship), so its p90 is too low. Deadlines that
        passed meanwhile are reported when it ends.
    lost_alone
        An overdue parcel that no others of its cell corroborate is reported at this
        multiple of its deadline (1: at the deadline).
    """

    def __init__(
        self,
        max_orders: int,
        ttl_ms: int,
        keep_done_ms: int,
        lost_factor: float | None = None,
        lost_warmup_ms: int = 0,
        lost_alone: float = LONE_FACTOR,
    ) -> None:
        self.max_orders = max_orders
        self.ttl_ms = ttl_ms
        self.keep_done_ms = keep_done_ms
        self.lost_factor = lost_factor
        self.lost_warmup_ms = lost_warmup_ms
        self.lost_alone = lost_alone
        #: Event time of the first order event seen (``None`` before it).
        self.first_ms: int | None = None
        self.orders: dict[str, _Order] = {}
        self.transit = TransitNorms(lost_factor)
        #: ``(due_ms, order_id, shipped_ms)``; stale entries are dropped when popped.
        self._deadlines: list[tuple[int, str, int]] = []
        #: Per cell, parcels that went overdue in the last :data:`CORROBORATION_MS`:
        #: ``(overdue_ms, order_id)``, oldest first.
        self._overdue: dict[str, deque[tuple[int, str]]] = {}
        #: Per cell, shipments decayed with time constant :data:`CORROBORATION_MS` and
        #: the event time of that value: ``[rate, at_ms]``.
        self._shipping: dict[str, list[float]] = {}
        #: Lone overdue parcels reported lost that have not arrived since, and overdue
        #: parcels that arrived after all (decayed): :meth:`lone_losses_likely`.
        self.lone_outcomes = [0.0, 0.0]
        #: Evicted orders by reason (``ttl``, ``cap``) since the last drain.
        self.evicted: Counter[str] = Counter()
        self._next_sweep_ms: int | None = None
        #: The highest watermark :meth:`due_lost` has checked (``None``: none yet).
        self._checked_ms: int | None = None

    # -- events ---------------------------------------------------------------------------

    def check(self, event: OrderEvent) -> None:
        """Refuse an event that contradicts the order's known times (:class:`InvalidEvent`
        ``inconsistent_lifecycle``, field ``ts``): a delivery before its shipment, a refund
        before its request."""
        order = self.orders.get(event.order_id)
        if order is None:
            return
        status, ts = event.status, event.ts_ms
        if status == "delivered" and order.shipped_ms != _NONE and ts < order.shipped_ms:
            raise InvalidEvent(
                "inconsistent_lifecycle",
                f"delivered at {ts} before it shipped at {order.shipped_ms} (epoch ms)",
                "ts",
            )
        if status == "shipped" and order.delivered_ms != _NONE and ts > order.delivered_ms:
            raise InvalidEvent(
                "inconsistent_lifecycle",
                f"shipped at {ts} after it was delivered at {order.delivered_ms} (epoch ms)",
                "ts",
            )
        if status == "refunded" and order.refund_from_ms != _NONE and ts < order.refund_from_ms:
            raise InvalidEvent(
                "inconsistent_lifecycle",
                f"refunded at {ts} before the refund was asked for at "
                f"{order.refund_from_ms} (epoch ms)",
                "ts",
            )

    def observe(self, event: OrderEvent) -> OrderFacts | None:
        """Update the order's times; return what this event measures (or ``None``).

        A re-read event (the same status at the same time, after a restart) measures the
        same facts again; a second delivery or refund at another time measures nothing.
        """
        status, ts = event.status, event.ts_ms
        if self.first_ms is None or ts < self.first_ms:
            self.first_ms = ts
        order = self.orders.get(event.order_id)
        if order is None:
            if len(self.orders) >= self.max_orders:
                self._evict_oldest()
            order = self.orders[event.order_id] = _Order(ts)
        else:
            # Re-inserting keeps the dict in touch order (oldest first) for cap evictions.
            del self.orders[event.order_id]
            self.orders[event.order_id] = order
            order.touched_ms = max(order.touched_ms, ts)
        if event.promised_at_ms is not None:
            order.promised_ms = event.promised_at_ms
        if event.carrier:
            order.carrier = event.carrier
        if event.region:
            order.region = event.region
        if status == "shipped":
            if order.shipped_ms == _NONE:
                order.shipped_ms = ts
                self._push_deadline(event.order_id, order)
            return None
        if status == "delivered":
            return self._delivered(order, ts)
        if status in _REFUND_FROM:
            if order.refund_from_ms == _NONE:
                order.refund_from_ms = ts
            return None
        if status == "refunded":
            if order.refund_from_ms == _NONE or order.refunded_ms not in (_NONE, ts):
                return None
            order.refunded_ms = ts
            return OrderFacts(refund_hours=(ts - order.refund_from_ms) / _MS_PER_HOUR)
        return None

    def _delivered(self, order: _Order, ts: int) -> OrderFacts | None:
        if order.delivered_ms not in (_NONE, ts):
            return None
        first = order.delivered_ms == _NONE
        order.delivered_ms = ts
        if order.shipped_ms == _NONE:
            return None
        hours = (ts - order.shipped_ms) / _MS_PER_HOUR
        cell = cell_of(order.region, order.carrier)
        if order.promised_ms != _NONE:
            late: bool | None = ts > order.promised_ms
        else:
            p90 = self.transit.p90(cell)
            late = None if p90 is None else hours > p90
        if first:
            self.transit.add(cell, hours, flagged=order.lost or order.overdue, at_ms=ts)
            if order.overdue:  # a straggler after all
                self.lone_outcomes[1] += 1.0
                if order.alone:
                    self.lone_outcomes[0] -= 1.0
                self._halve_outcomes()
        return OrderFacts(transit_hours=hours, late=late)

    # -- lost parcels ---------------------------------------------------------------------

    def _push_deadline(self, order_id: str, order: _Order) -> None:
        if self.lost_factor is None:
            return
        cell = cell_of(order.region, order.carrier)
        self._count_shipment(cell, order.shipped_ms)
        p90 = self.transit.p90(cell)
        if p90 is None:
            factor, p90 = self.lost_factor, 24.0  # re-checked when due: an hour-scale guess
        else:
            factor = self.transit.deadline_factor(cell)
        # Checked first a little early, then closer to the deadline (see due_lost).
        due = order.shipped_ms + round(_FIRST_CHECK * factor * p90 * _MS_PER_HOUR)
        order.due_ms = due
        heapq.heappush(self._deadlines, (due, order_id, order.shipped_ms))

    def _count_shipment(self, cell: str, shipped_ms: int) -> None:
        rate = self._shipping.get(cell)
        if rate is None:
            if len(self._shipping) >= MAX_CELLS:
                return
            rate = self._shipping[cell] = [0.0, float(shipped_ms)]
        _count_decayed(rate, shipped_ms, CORROBORATION_MS)

    def _shipments(self, cell: str, at_ms: int) -> float:
        """The cell's shipments in about the last :data:`CORROBORATION_MS` before ``at_ms``."""
        rate = self._shipping.get(cell)
        if rate is None:
            return 0.0
        return rate[0] * math.exp(-max(at_ms - rate[1], 0.0) / CORROBORATION_MS)

    def due_lost(self, watermark_ms: int) -> list[LostParcel]:
        """Parcels reported lost by the watermark (see the module's docstring), in the
        order they were reported; each is reported once."""
        lost: list[LostParcel] = []
        heap = self._deadlines
        if self.lost_factor is None or self.first_ms is None:
            return lost
        watermark_ms = min(watermark_ms, self._warm_mark(watermark_ms))
        floor = _NONE if self._checked_ms is None else self._checked_ms + 1
        if self._checked_ms is None or watermark_ms > self._checked_ms:
            self._checked_ms = watermark_ms
        while heap and heap[0][0] <= watermark_ms:
            due, order_id, shipped = heapq.heappop(heap)
            order = self.orders.get(order_id)
            if (
                order is None
                or order.shipped_ms != shipped
                or order.lost
                or order.delivered_ms != _NONE
            ):
                continue
            cell = cell_of(order.region, order.carrier)
            p90 = self.transit.p90(cell)
            if p90 is None:
                order.due_ms = due + _MS_PER_HOUR
                heapq.heappush(heap, (order.due_ms, order_id, shipped))
                continue
            factor = self.transit.deadline_factor(cell)
            wait = self.lost_alone * factor if order.overdue else factor
            # Never at or before the watermark of the previous call: a cell whose p90 fell
            # meanwhile must not send a verdict into a window already closed downstream.
            now_due = max(shipped + round(wait * p90 * _MS_PER_HOUR), floor)
            if now_due > watermark_ms:
                # Re-checked hourly from 0.8 x the deadline (at that share again if the p90
                # rose): the cell's p90 may fall meanwhile, and a parcel checked only at its
                # old deadline would be reported late. A heap push per parcel and hour of
                # its last fifth: about 25 each at a 65-hour p90.
                now = max(due, watermark_ms)
                first = shipped + round(_FIRST_CHECK * (now_due - shipped))
                order.due_ms = min(now_due, first if first > now else now + _MS_PER_HOUR)
                heapq.heappush(heap, (order.due_ms, order_id, shipped))
                continue
            if order.overdue:  # alone until its late deadline
                lost.append(self._report_alone(order_id, order, now_due, p90, factor, cell))
                continue
            order.overdue = True
            others = self._overdue_in(cell, now_due)
            self._overdue.setdefault(cell, deque()).append((now_due, order_id))
            expected = LATE_ARRIVAL_RATE * self._shipments(cell, now_due)
            if poisson_tail(len(others), expected) < CORROBORATION_P:
                for other_id, other in others:
                    if not other.lost:
                        lost.append(self._report(other_id, other, now_due, p90, factor, cell))
                lost.append(self._report(order_id, order, now_due, p90, factor, cell))
            elif self.lone_losses_likely():
                lost.append(self._report_alone(order_id, order, now_due, p90, factor, cell))
            else:
                lone = shipped + round(self.lost_alone * factor * p90 * _MS_PER_HOUR)
                order.due_ms = max(lone, now_due)
                heapq.heappush(heap, (order.due_ms, order_id, shipped))
        return lost

    def lone_losses_likely(self) -> bool:
        """Whether most lone overdue parcels of this partition turned out lost rather than
        late: then a lone one is reported at its deadline, not at ``lost_alone`` x it.

        The posterior mean of that share under a Beta(1/2, 7/2) prior (leaning to late:
        three more lone losses than late arrivals before a lone parcel is reported at
        once) is at least one half.
        """
        lost, arrived = self.lone_outcomes
        return (lost + 0.5) / (lost + arrived + 4.0) >= 0.5

    def _halve_outcomes(self) -> None:
        if sum(self.lone_outcomes) >= _LONE_HALVE_AT:
            self.lone_outcomes = [c / 2.0 for c in self.lone_outcomes]

    def _report_alone(
        self, order_id: str, order: _Order, at_ms: int, p90: float, factor: float, cell: str
    ) -> LostParcel:
        order.alone = True
        self.lone_outcomes[0] += 1.0
        self._halve_outcomes()
        return self._report(order_id, order, at_ms, p90, factor, cell)

    def _overdue_in(self, cell: str, now_ms: int) -> list[tuple[str, _Order]]:
        """The cell's other parcels overdue since ``now_ms - CORROBORATION_MS`` and still
        undelivered (a delivered one was a straggler, no evidence of loss)."""
        recent = self._overdue.get(cell)
        if not recent:
            return []
        while recent and recent[0][0] <= now_ms - CORROBORATION_MS:
            recent.popleft()
        out = []
        for _, order_id in recent:
            order = self.orders.get(order_id)
            if order is not None and order.overdue and order.delivered_ms == _NONE:
                out.append((order_id, order))
        return out

    @staticmethod
    def _report(
        order_id: str, order: _Order, at_ms: int, p90: float, factor: float, cell: str
    ) -> LostParcel:
        order.lost = True
        order.due_ms = at_ms
        return LostParcel(
            order_id, order.shipped_ms, at_ms, p90, factor, cell, order.carrier, order.region
        )

    def _warm_mark(self, watermark_ms: int) -> int:
        """``watermark_ms`` once the warm-up is over, else a time before every deadline."""
        assert self.first_ms is not None
        return watermark_ms if watermark_ms - self.first_ms >= self.lost_warmup_ms else -1 << 62

    @property
    def next_due_ms(self) -> int | None:
        """The earliest deadline (possibly stale), or ``None``."""
        return self._deadlines[0][0] if self._deadlines else None

    # -- bounds ---------------------------------------------------------------------------

    def sweep(self, now_ms: int) -> None:
        """Evict orders untouched for ``ttl_ms`` and finished ones older than
        ``keep_done_ms`` (event time); cheap to call often: it runs once an hour of it."""
        if self._next_sweep_ms is not None and now_ms < self._next_sweep_ms:
            return
        self._next_sweep_ms = now_ms + _MS_PER_HOUR
        # Twice the span: verdicts are due behind ``now_ms`` (by the lateness), and when
        # this runs (not in a snapshot) must not change what corroborates them.
        for cell in list(self._overdue):
            recent = self._overdue[cell]
            while recent and recent[0][0] <= now_ms - 2 * CORROBORATION_MS:
                recent.popleft()
            if not recent:
                del self._overdue[cell]
        ttl_cut, done_cut = now_ms - self.ttl_ms, now_ms - self.keep_done_ms
        stale = [
            key
            for key, order in self.orders.items()
            if order.touched_ms <= ttl_cut or (order.touched_ms <= done_cut and order.done())
        ]
        expired = 0
        for key in stale:
            order = self.orders.pop(key)
            if not order.done():
                expired += 1
        if expired:
            self.evicted["ttl"] += expired
        if len(stale) > len(self.orders):
            self.orders = dict(self.orders)  # a dict keeps its table after deletions

    def _evict_oldest(self) -> None:
        key = next(iter(self.orders))
        del self.orders[key]
        self.evicted["cap"] += 1

    def drain_evictions(self) -> Counter[str]:
        """Evicted orders by reason since the last call."""
        evicted, self.evicted = self.evicted, Counter()
        return evicted

    # -- snapshot -------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """The JSON part of a snapshot: order ids, text fields and the cell histories."""
        orders = self.orders.values()
        return {
            "ids": list(self.orders),
            "first_ms": self.first_ms,
            "carrier": [o.carrier for o in orders],
            "region": [o.region for o in orders],
            "transit": self.transit.to_json(),
            "transit_tails": self.transit.tails,
            "transit_pace": self.transit.pace,
            "overdue": {
                cell: [list(entry) for entry in recent] for cell, recent in self._overdue.items()
            },
            "shipping": self._shipping,
            "lone_outcomes": self.lone_outcomes,
            "lost_checked_ms": self._checked_ms,
        }

    def arrays(self) -> list[bytes]:
        """The binary part of a snapshot: one little-endian int64 column per time."""
        orders = list(self.orders.values())
        count = len(orders)
        return [
            np.fromiter((getattr(o, name) for o in orders), "<i8", count).tobytes()
            for name in _TIME_FIELDS
        ] + [np.fromiter((_lost_code(o) for o in orders), "<i8", count).tobytes()]

    def load(self, header: dict[str, Any], data: bytes, offset: int) -> int:
        """Restore from :meth:`header` and :meth:`arrays` at ``offset``; return the offset
        after them. The lost-parcel heap is rebuilt from each open shipment's deadline."""
        ids = header["ids"]
        count = len(ids)
        columns = []
        for _ in range(SNAPSHOT_COLUMNS):
            columns.append(np.frombuffer(data, "<i8", count, offset).tolist())
            offset += 8 * count
        self.transit.load(
            header["transit"], header.get("transit_tails", {}), header.get("transit_pace")
        )
        self.first_ms = header.get("first_ms")
        self.orders = {}
        for i, key in enumerate(ids):
            touched, shipped, promised, delivered, refund_from, refunded, due = (
                column[i] for column in columns[: len(_TIME_FIELDS)]
            )
            order = _Order(
                touched,
                shipped,
                promised,
                delivered,
                refund_from,
                refunded,
                due,
                lost=columns[-1][i] in (_LOST, _LOST_ALONE),
                overdue=columns[-1][i] != 0,
                alone=columns[-1][i] == _LOST_ALONE,
                carrier=header["carrier"][i],
                region=header["region"][i],
            )
            self.orders[key] = order
        self._overdue = {
            cell: deque((int(ms), str(order_id)) for ms, order_id in recent)
            for cell, recent in header.get("overdue", {}).items()
        }
        self.lone_outcomes = [float(c) for c in header.get("lone_outcomes", (0.0, 0.0))]
        self._checked_ms = header.get("lost_checked_ms")
        self._shipping = {
            cell: [float(rate), float(at)]
            for cell, (rate, at) in header.get("shipping", {}).items()
        }
        self._deadlines = [
            (order.due_ms, key, order.shipped_ms)
            for key, order in self.orders.items()
            if order.due_ms != _NONE and order.delivered_ms == _NONE and not order.lost
        ]
        heapq.heapify(self._deadlines)
        return offset


_TIME_FIELDS: Final = (
    "touched_ms",
    "shipped_ms",
    "promised_ms",
    "delivered_ms",
    "refund_from_ms",
    "refunded_ms",
    "due_ms",
)
#: The last snapshot column: 0, or overdue and then reported lost (corroborated; what
#: older snapshots call lost), not yet reported, or reported alone.
_LOST: Final = 1
_OVERDUE: Final = 2
_LOST_ALONE: Final = 3


def _lost_code(order: _Order) -> int:
    if order.lost:
        return _LOST_ALONE if order.alone else _LOST
    return _OVERDUE if order.overdue else 0


#: int64 columns per order in a snapshot: the times and the lost state.
SNAPSHOT_COLUMNS: Final = len(_TIME_FIELDS) + 1
