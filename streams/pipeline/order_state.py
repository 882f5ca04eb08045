"""Per-order lifecycle state of one orders partition: what the logistics rules measure.

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

A parcel is *lost* (``lost_parcel``) when it is still undelivered ``lost_factor`` times
its cell's p90 transit time after it shipped. Deadlines sit in a heap (event time); a
due entry is re-checked against the cell's p90 of that moment, so a cell that slows
down as a whole pushes its deadlines out instead of flagging every parcel.

A carrier whose transit times have a heavy tail delivers some parcels after any fixed
multiple of its p90: each of them is flagged lost and then arrives. So every cell counts
its deliveries and, of the parcels flagged lost that arrived after all, how many came
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
    """Per cell, the newest :data:`CELL_HISTORY` transit times (hours) and their p90.

    The p90 is the nearest-rank quantile of the kept values (Hyndman & Fan 1996,
    definition 1), read from a copy kept in order; a cell with fewer than
    :data:`MIN_CELL_SAMPLES` values answers with the whole partition's.

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

    def add(self, cell: str, hours: float, *, flagged: bool = False) -> None:
        """Record one delivery's transit time in its cell and in the partition's.

        ``flagged``: the parcel had been reported lost. Its transit then counts on every
        rung it exceeded; deliveries that were never flagged only count as deliveries (a
        cell that slows down as a whole moves its deadlines out first, so its slow parcels
        are not counted as a tail).
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
            if len(ring) == CELL_HISTORY:
                del ordered[bisect.bisect_left(ordered, ring[0])]
            ring.append(hours)
            bisect.insort(ordered, hours)

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

    def load(self, data: dict[str, list[float]], tails: dict[str, list[float]]) -> None:
        """Inverse of :meth:`to_json` and of :attr:`tails` (empty for older snapshots)."""
        self.history = {key: deque(values, maxlen=CELL_HISTORY) for key, values in data.items()}
        self._sorted = {key: sorted(ring) for key, ring in self.history.items()}
        width = len(self.rungs) + 1
        self.tails = {key: list(c) for key, c in tails.items() if len(c) == width}
        self._rung = {}


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
    """

    def __init__(
        self,
        max_orders: int,
        ttl_ms: int,
        keep_done_ms: int,
        lost_factor: float | None = None,
        lost_warmup_ms: int = 0,
    ) -> None:
        self.max_orders = max_orders
        self.ttl_ms = ttl_ms
        self.keep_done_ms = keep_done_ms
        self.lost_factor = lost_factor
        self.lost_warmup_ms = lost_warmup_ms
        #: Event time of the first order event seen (``None`` before it).
        self.first_ms: int | None = None
        self.orders: dict[str, _Order] = {}
        self.transit = TransitNorms(lost_factor)
        #: ``(due_ms, order_id, shipped_ms)``; stale entries are dropped when popped.
        self._deadlines: list[tuple[int, str, int]] = []
        #: Evicted orders by reason (``ttl``, ``cap``) since the last drain.
        self.evicted: Counter[str] = Counter()
        self._next_sweep_ms: int | None = None

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
            self.transit.add(cell, hours, flagged=order.lost)
        return OrderFacts(transit_hours=hours, late=late)

    # -- lost parcels ---------------------------------------------------------------------

    def _push_deadline(self, order_id: str, order: _Order) -> None:
        if self.lost_factor is None:
            return
        cell = cell_of(order.region, order.carrier)
        p90 = self.transit.p90(cell)
        if p90 is None:
            factor, p90 = self.lost_factor, 24.0  # re-checked when due: an hour-scale guess
        else:
            factor = self.transit.deadline_factor(cell)
        due = order.shipped_ms + round(factor * p90 * _MS_PER_HOUR)
        order.due_ms = due
        heapq.heappush(self._deadlines, (due, order_id, order.shipped_ms))

    def due_lost(self, watermark_ms: int) -> list[LostParcel]:
        """Parcels whose deadline the watermark passed and that are still undelivered, in
        deadline order; each is reported once."""
        lost: list[LostParcel] = []
        heap = self._deadlines
        if self.lost_factor is None or self.first_ms is None:
            return lost
        watermark_ms = min(watermark_ms, self._warm_mark(watermark_ms))
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
            now_due = shipped + round(factor * p90 * _MS_PER_HOUR)
            if now_due > watermark_ms:
                order.due_ms = now_due
                heapq.heappush(heap, (now_due, order_id, shipped))
                continue
            order.lost = True
            lost.append(
                LostParcel(
                    order_id, shipped, now_due, p90, factor, cell, order.carrier, order.region
                )
            )
        return lost

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
        }

    def arrays(self) -> list[bytes]:
        """The binary part of a snapshot: one little-endian int64 column per time."""
        orders = list(self.orders.values())
        count = len(orders)
        return [
            np.fromiter((getattr(o, name) for o in orders), "<i8", count).tobytes()
            for name in _TIME_FIELDS
        ] + [np.fromiter((o.lost for o in orders), "<i8", count).tobytes()]

    def load(self, header: dict[str, Any], data: bytes, offset: int) -> int:
        """Restore from :meth:`header` and :meth:`arrays` at ``offset``; return the offset
        after them. The lost-parcel heap is rebuilt from each open shipment's deadline."""
        ids = header["ids"]
        count = len(ids)
        columns = []
        for _ in range(SNAPSHOT_COLUMNS):
            columns.append(np.frombuffer(data, "<i8", count, offset).tolist())
            offset += 8 * count
        self.transit.load(header["transit"], header.get("transit_tails", {}))
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
                lost=bool(columns[-1][i]),
                carrier=header["carrier"][i],
                region=header["region"][i],
            )
            self.orders[key] = order
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
#: int64 columns per order in a snapshot: the times and the lost flag.
SNAPSHOT_COLUMNS: Final = len(_TIME_FIELDS) + 1
