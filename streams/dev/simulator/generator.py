"""The simulation: seeded traffic planned step by step, merged into event-time order.

Size: one :class:`Simulation` whose emitters of orders, tickets, reviews, bursts and
incident complaints share its plan, its heap of pending events and its random stream;
the step loop that interleaves them is the module's one idea. A development tool, not
part of the service.

Each 15-minute step draws that step's placed orders (Poisson around the seasonal, noisy
rate), plans their whole lifecycle at once (:mod:`~streams.dev.simulator.orders`), and
pushes every future event onto one priority queue (a calendar queue,
:mod:`~streams.dev.simulator.schedule`);
tickets (:mod:`~streams.dev.simulator.service`) and extra complaints of a complaint spike go on
the same queue. Everything due before the next step
is then popped, so events come out in ascending event time. Planning starts ``warmup``
before ``start`` so that deliveries and returns of older orders are already flowing.

Examples
--------
>>> from datetime import timedelta
>>> from streams.dev.simulator.config import SimulationConfig
>>> sim = Simulation(
...     SimulationConfig(
...         seed=3, duration=timedelta(hours=2), orders_per_day=2_000, warmup=timedelta(0)
...     )
... )
>>> events = list(sim.events())
>>> sorted({e.topic for e in events})
['orders', 'wait-times']
>>> all(a.ts_ms <= b.ts_ms for a, b in zip(events, events[1:]))
True
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from streams.dev.simulator.catalog import Catalog
from streams.dev.simulator.config import CANCEL_REASONS, SimulationConfig
from streams.dev.simulator.events import COMPLAINTS, ORDERS, REVIEWS, WAIT_TIMES, Event
from streams.dev.simulator.incidents import (
    BadReviewWave,
    CancellationSpike,
    ComplaintSpike,
    CustomerBurst,
    DeliveryDelay,
    Incident,
    LostParcels,
    RefundDelay,
    window_ms,
)
from streams.dev.simulator.orders import _CANCEL_P, NONE, OrderModel, OrderPlan
from streams.dev.simulator.promotion import promotion_factor
from streams.dev.simulator.schedule import CalendarQueue
from streams.dev.simulator.seasonality import Noise, seasonal
from streams.dev.simulator.service import ServiceModel, csat_ratings
from streams.dev.simulator.targets import resolve_incidents
from streams.dev.simulator.timefmt import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, format_ts

STEP_MS = 15 * MS_PER_MINUTE
#: Share of deliveries reviewed, and P(rating <= 2) of an ordinary one.
REVIEW_SHARE = 0.12
REVIEW_LOW = 0.07
"""Planning step: orders, tickets and spike complaints are drawn per step."""

WARMUP_STEP_MS = 2 * MS_PER_HOUR
"""Coarser step for warm-up traffic more than :data:`FINE_LEAD_MS` before ``start``."""

FINE_LEAD_MS = 5 * MS_PER_DAY
"""Planning uses :data:`STEP_MS` from this long before ``start`` (deliveries in flight)."""

TICKET_LEAD_MS = 6 * MS_PER_HOUR
"""Tickets are drawn from this long before ``start`` so waits in flight are realistic."""

# queue item: (ts_ms, seq, topic, key, status, fields, reason)
_Item = tuple[int, int, str, str, str, dict[str, Any], str | None]


class Simulation:
    """A seeded, deterministic after-sales traffic generator.

    Parameters
    ----------
    config
        The run's configuration; incidents with ``None`` targets are resolved against the
        catalogue (see :attr:`incidents`).

    Notes
    -----
    :meth:`events` can be iterated more than once; each pass restarts from the seed and
    yields identical events. After a full pass, :attr:`affected_orders` maps the index of
    each ``wrong_price`` / ``customer_burst`` incident to the emitted order ids it touched
    and :attr:`counts` holds events per ``(topic, status)``.
    """

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.catalog = Catalog.build(config)
        self.incidents: tuple[Incident, ...] = resolve_incidents(
            config.incidents, config, self.catalog
        )
        self.orders = OrderModel(config, self.catalog, self.incidents)
        self.service = ServiceModel(config, self.incidents)
        self.affected_orders: dict[int, list[str]] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        #: Order id -> true probability of a return/exchange request or complaint, for
        #: the orders emitted (filled only when ``risk_drivers`` > 0).
        self.true_risk: dict[str, float] = {}
        #: Order id -> ``(return chance without the customer's propensity, complaint
        #: chance, customer index)``: what ``true_risk`` is made of (``benchmarks/risk.py``
        #: bounds what a scorer that must learn the propensity can reach).
        self.risk_parts: dict[str, tuple[float, float, int]] = {}

    def __iter__(self) -> Iterator[Event]:
        """Same as :meth:`events`."""
        return self.events()

    def events(self) -> Iterator[Event]:
        """Yield every event in ``[start, start + duration)`` in ascending event time."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 1])
        # The signals added later (csat, reviews, cancellation spikes) draw from their own
        # stream: the orders, tickets and complaints of a seed stay what they were.
        self._signals = np.random.default_rng([cfg.seed, 2])
        # Logistics incidents (lost parcels) draw from a third stream for the same reason.
        self._logistics = np.random.default_rng([cfg.seed, 3])
        noise = Noise(rng, cfg.noise)
        start, end = cfg.start_ms, cfg.end_ms
        self.affected_orders = {
            i: []
            for i, inc in enumerate(self.incidents)
            if inc.type in ("wrong_price", "customer_burst", "lost_parcels")
        }
        self.counts = Counter()
        self.orders.first_extra_return = {}
        promotions = cfg.promotions
        state = _State()
        queue = CalendarQueue(STEP_MS)
        t = (start - cfg.warmup_ms) // STEP_MS * STEP_MS
        while t < end:
            step = WARMUP_STEP_MS if t + WARMUP_STEP_MS <= start - FINE_LEAD_MS else STEP_MS
            t_next = t + step
            intensity = float(seasonal(np.array([t + step // 2]))[0]) * noise.step(t)
            promo = promotion_factor(promotions, t + step // 2) if promotions else 1.0
            intensity *= promo
            n = int(rng.poisson(cfg.orders_per_day * step / MS_PER_DAY * intensity))
            placed = np.sort(t + rng.integers(0, step, n))
            self._push_orders(queue, state, self.orders.plan(rng, placed), start, end, None)
            for i, inc in enumerate(self.incidents):
                if isinstance(inc, CustomerBurst) and t <= window_ms(inc)[0] < t_next:
                    self._push_burst(queue, state, rng, i, inc, start, end)
            if t_next > start - TICKET_LEAD_MS:
                self._push_tickets(queue, state, rng, t, intensity, promo)
            if t_next > start:
                self._push_spike_complaints(queue, state, rng, t, intensity)
            for item in queue.pop_before(t_next):
                if item[4] == "delivered":
                    state.recent_deliveries.append((item[3], item[5]))
                if start <= item[0] < end:
                    event = _build(item)
                    self.counts[(event.topic, item[4])] += 1
                    yield event
            t = t_next

    def _push_orders(
        self,
        queue: CalendarQueue,
        state: _State,
        plan: OrderPlan,
        start: int,
        end: int,
        burst: tuple[int, str, str] | None,
        *,
        distinct: bool = False,
    ) -> None:
        """Push every emitted-range event of the planned orders; ids are assigned in order.

        A ``burst`` ``(incident index, customer, address)`` puts every order on that
        customer and address; with ``distinct`` each order gets its own new customer
        (``<customer>-<n>``) at that address.
        """
        cat = self.catalog
        skus, cats = cat.skus, self.orders.category_names
        cat_of = cat.category
        regions, carriers = self.orders.region_names, self.orders.carrier_names
        channels, reasons = self.orders.channel_names, self.orders.return_reasons
        complaint_names = self.orders.complaint_names
        push = queue.push
        first_id = state.order_seq + 1
        state.order_seq += len(plan.placed)
        emit = np.flatnonzero((plan.last >= start) & (plan.placed < end))
        cols = [
            a[emit].tolist()
            for a in (
                np.arange(len(plan.placed)) + first_id,
                plan.placed,
                plan.sku,
                plan.region,
                plan.carrier,
                plan.channel,
                plan.customer,
                plan.address,
                plan.quantity,
                plan.amount,
                plan.wrong_price,
                plan.cancelled,
                plan.cancel_reason,
                plan.paid,
                plan.shipped,
                plan.delivered,
                plan.return_kind,
                plan.return_requested,
                plan.return_reason,
                plan.returned,
                plan.refunded,
                plan.complaint,
                plan.complaint_reason,
                plan.severity,
            )
        ]
        draws = self._signals.random((len(emit), 4)).tolist()
        if plan.p_risk is not None:
            for number, p in zip(
                (emit + first_id).tolist(), plan.p_risk[emit].tolist(), strict=True
            ):
                self.true_risk[f"O-{number:09d}"] = p
        if plan.p_risk_parts is not None:
            return_known, complaint_chance = plan.p_risk_parts
            for number, k, c, cust in zip(
                (emit + first_id).tolist(),
                return_known[emit].tolist(),
                complaint_chance[emit].tolist(),
                plan.customer[emit].tolist(),
                strict=True,
            ):
                self.risk_parts[f"O-{number:09d}"] = (k, c, cust)
        lost_draws = self._logistics.random(len(emit)).tolist()
        speed, days = self.orders.carrier_speed, self.orders.delivery_days
        logistics = bool(self._logistics_incidents)
        for lost_u, (
            (
                number,
                placed,
                sku,
                region,
                carrier,
                channel,
                cust,
                addr,
                qty,
                amount,
                wrong,
                cancelled,
                cancel_reason,
                paid,
                shipped,
                delivered,
                kind,
                req,
                reason,
                returned,
                refunded,
                complaint,
                c_reason,
                severity,
            ),
            u,
        ) in zip(lost_draws, zip(zip(*cols, strict=True), draws, strict=True), strict=True):
            if cancelled == NONE and self._cancel_spikes:
                spiked = self._spiked_cancel(placed, channels[channel], u[0])
                if spiked is not None:
                    # The spike overrides the order's drawn outcome (PLW2901 on purpose).
                    cancelled, cancel_reason = (  # noqa: PLW2901
                        placed + int(u[1] * 55 + 5) * MS_PER_MINUTE,
                        spiked,
                    )
                    complaint = NONE  # noqa: PLW2901 - nothing was delivered to complain about
                    if paid != NONE and paid >= cancelled:
                        paid = NONE  # noqa: PLW2901
            oid = f"O-{number:09d}"
            lost = False
            if logistics and cancelled == NONE:
                # An incident's lifecycle replaces the planned one.
                delivered, req, returned, refunded, complaint, lost_by = self._logistics_change(  # noqa: PLW2901
                    (shipped, delivered, req, returned, refunded, complaint),
                    regions[region],
                    carriers[carrier],
                    cats[int(cat_of[sku])],
                    channels[channel],
                    lost_u,
                )
                lost = lost_by != NONE
                if lost and start <= shipped < end:
                    self.affected_orders[lost_by].append(oid)
            if burst is not None:
                cust_s, addr_s = burst[1], burst[2]
                if distinct:
                    cust_s = f"{burst[1]}-{number - first_id + 1}"
            else:
                cust_s, addr_s = f"C-{cust + 1:07d}", f"A-{addr + 1:07d}"
            fields = {
                "customer_id": cust_s,
                "address_id": addr_s,
                "sku": skus[sku],
                "category": cats[int(cat_of[sku])],
                "region": regions[region],
                "carrier": carriers[carrier],
                "channel": channels[channel],
                "quantity": qty,
                "amount": amount,
                # The delivery date promised at checkout: the day after ordering plus the
                # cell's typical transit with a margin, by 20:00 UTC.
                "promised_at": format_ts(
                    (placed // MS_PER_DAY + 2 + int(days[region] * speed[carrier] * 1.15))
                    * MS_PER_DAY
                    + 20 * MS_PER_HOUR
                ),
            }
            if placed >= start:
                if wrong != NONE:
                    self.affected_orders[wrong].append(oid)
                if burst is not None:
                    self.affected_orders[burst[0]].append(oid)
            seq = state.next_seq
            steps: list[tuple[int, str, str | None]] = [(placed, "placed", None)]
            if paid != NONE:
                steps.append((paid, "paid", None))
            if cancelled != NONE:
                steps.append((cancelled, "cancelled", CANCEL_REASONS[cancel_reason]))
            else:
                steps.append((shipped, "shipped", None))
                if not lost:
                    steps.append((delivered, "delivered", None))
                if kind and not lost:
                    status = "return_requested" if kind == 1 else "exchange_requested"
                    steps.append((req, status, reasons[reason]))
                    if returned != NONE:
                        steps.append((returned, "returned", reasons[reason]))
                    if refunded != NONE:
                        steps.append((refunded, "refunded", reasons[reason]))
                review = self._review(delivered, skus[sku], kind, u)
                if review is not None and start <= review[0] < end:
                    state.review_seq += 1
                    push(
                        (
                            review[0],
                            seq(),
                            REVIEWS,
                            f"R-{number:09d}",
                            "review",
                            {
                                "review_id": f"R-{number:09d}",
                                "order_id": oid,
                                "customer_id": cust_s,
                                "sku": fields["sku"],
                                "category": fields["category"],
                                "rating": review[1],
                            },
                            None,
                        )
                    )
            for ts, status, why in steps:
                recent = status == "delivered" and start - MS_PER_DAY <= ts
                if start <= ts < end or (recent and ts < end):
                    push((ts, seq(), ORDERS, oid, status, fields, why))
            if complaint != NONE and start <= complaint < end:
                state.complaint_seq += 1
                cid = f"K-{state.complaint_seq:09d}"
                reason_s = complaint_names[c_reason]
                push(
                    (
                        complaint,
                        seq(),
                        COMPLAINTS,
                        cid,
                        "complaint",
                        _complaint_fields(cid, oid, fields, reason_s, severity),
                        None,
                    )
                )

    @property
    def _logistics_incidents(self) -> list[Incident]:
        return [
            inc
            for inc in self.incidents
            if isinstance(inc, DeliveryDelay | LostParcels | RefundDelay)
        ]

    def _logistics_change(
        self,
        times: tuple[int, int, int, int, int, int],
        region: str,
        carrier: str,
        category: str,
        channel: str,
        u: float,
    ) -> tuple[int, int, int, int, int, int]:
        """``(delivered, return request, returned, refunded, complaint, lost_by)`` of one
        shipped order after the delivery-delay, lost-parcel and refund-delay incidents
        (``lost_by``: the index of the incident that lost it, or ``NONE``)."""
        shipped, delivered, req, returned, refunded, complaint = times
        lost = NONE
        for index, inc in enumerate(self.incidents):
            lo, hi = window_ms(inc)
            if isinstance(inc, DeliveryDelay):
                if lo <= shipped < hi and inc.region == region and inc.carrier == carrier:
                    shift = int((delivered - shipped) * (inc.magnitude - 1.0))
                    delivered += shift
                    req, returned, refunded, complaint = (
                        t if t == NONE else t + shift for t in (req, returned, refunded, complaint)
                    )
            elif isinstance(inc, LostParcels):
                if (
                    lo <= shipped < hi
                    and inc.carrier == carrier
                    and inc.region in (None, region)
                    and u < inc.magnitude
                    and lost == NONE
                ):
                    lost = index
            elif (
                isinstance(inc, RefundDelay)
                and NONE not in (refunded, returned)
                and lo <= returned < hi
                and inc.category in (None, category)
                and inc.channel in (None, channel)
            ):
                refunded = returned + int((refunded - returned) * inc.magnitude)
        if lost != NONE:
            delivered = req = returned = refunded = complaint = NONE
        return delivered, req, returned, refunded, complaint, lost

    @property
    def _cancel_spikes(self) -> list[tuple[int, int, str | None, int, float]]:
        cached = getattr(self, "_cancel_spike_cache", None)
        if cached is None:
            cached = []
            share = dict(zip(CANCEL_REASONS, _CANCEL_P, strict=True))
            for inc in self.incidents:
                if isinstance(inc, CancellationSpike):
                    lo, hi = window_ms(inc)
                    extra = (inc.magnitude - 1.0) * self.config.cancel_rate * share[inc.reason]
                    cached.append(
                        (lo, hi, inc.channel, CANCEL_REASONS.index(inc.reason), min(extra, 0.9))
                    )
            self._cancel_spike_cache = cached
        return cached

    def _spiked_cancel(self, placed: int, channel: str, u: float) -> int | None:
        """The cancel reason index if a cancellation spike cancels this order, else None."""
        for lo, hi, only, reason, extra in self._cancel_spikes:
            if lo <= placed < hi and (only is None or only == channel) and u < extra:
                return reason
        return None

    def _review(
        self, delivered: int, sku: str, kind: int, u: list[float]
    ) -> tuple[int, int] | None:
        """``(ts, rating)`` of the delivered order's review, or None (most write none).

        ``REVIEW_SHARE`` of deliveries are reviewed 0.5-3 days later; P(rating <= 2) is
        ``REVIEW_LOW`` (x3 when the order is returned or exchanged, x a
        :class:`~streams.dev.simulator.incidents.BadReviewWave`'s magnitude for the sku's
        deliveries in its window; at most 0.9).
        """
        if delivered == NONE or u[2] >= REVIEW_SHARE:
            return None
        p_low = REVIEW_LOW * (3.0 if kind else 1.0)
        for inc in self.incidents:
            if isinstance(inc, BadReviewWave) and inc.sku == sku:
                lo, hi = window_ms(inc)
                if lo <= delivered < hi:
                    p_low *= inc.magnitude
        u3 = u[2] / REVIEW_SHARE  # uniform again on [0, 1)
        ts = delivered + int((0.5 + 2.5 * u[3]) * MS_PER_DAY)
        if u3 < min(p_low, 0.9):
            return ts, 1 if u3 < min(p_low, 0.9) / 2 else 2
        rest = (u3 - min(p_low, 0.9)) / (1 - min(p_low, 0.9))
        return ts, 3 if rest < 0.2 else (4 if rest < 0.55 else 5)

    def _push_burst(
        self,
        queue: CalendarQueue,
        state: _State,
        rng: np.random.Generator,
        index: int,
        inc: CustomerBurst,
        start: int,
        end: int,
    ) -> None:
        lo, hi = window_ms(inc)
        placed = np.sort(rng.integers(lo, hi, int(inc.magnitude)))
        plan = self.orders.plan(rng, placed, drop=False)
        self._push_orders(
            queue,
            state,
            plan,
            start,
            end,
            (index, inc.customer_id or "", inc.address_id or ""),
            distinct=inc.distinct_customers,
        )

    def _push_tickets(
        self,
        queue: CalendarQueue,
        state: _State,
        rng: np.random.Generator,
        t: int,
        intensity: float,
        staffed: float = 1.0,
    ) -> None:
        batch = self.service.tickets(rng, t, STEP_MS, intensity, staffed)
        queues, channels = self.service.queue_names, self.service.channel_names
        regions = self.service.region_names
        seq = state.next_seq
        csat = csat_ratings(
            self._signals, batch.queue, batch.answered, batch.wait_seconds, self.service.csat_drops
        )
        for answered, q, ch, reg, wait, handle, rating in zip(
            batch.answered.tolist(),
            batch.queue.tolist(),
            batch.channel.tolist(),
            batch.region.tolist(),
            batch.wait_seconds.tolist(),
            batch.handle_seconds.tolist(),
            csat.tolist(),
            strict=True,
        ):
            state.ticket_seq += 1
            tid = f"T-{state.ticket_seq:09d}"
            fields = {
                "ticket_id": tid,
                "queue": queues[q],
                "channel": channels[ch],
                "region": regions[reg],
                "wait_seconds": wait,
                "handle_seconds": handle,
            }
            if rating:
                fields["csat"] = rating
            queue.push((answered, seq(), WAIT_TIMES, tid, "ticket", fields, None))

    def _push_spike_complaints(
        self,
        queue: CalendarQueue,
        state: _State,
        rng: np.random.Generator,
        t: int,
        intensity: float,
    ) -> None:
        share = dict(self._complaint_shares())
        for inc in self.incidents:
            if not isinstance(inc, ComplaintSpike) or inc.reason is None:
                continue
            lo, hi = window_ms(inc)
            lo, hi = max(lo, t), min(hi, t + STEP_MS)
            if lo >= hi or not state.recent_deliveries:
                continue
            base_per_day = (
                self.config.orders_per_day * self.config.complaint_rate * share[inc.reason]
            )
            lam = (inc.magnitude - 1.0) * base_per_day * (hi - lo) / MS_PER_DAY * intensity
            n = int(rng.poisson(lam))
            times = np.sort(rng.integers(lo, hi, n)).tolist()
            picks = rng.integers(0, len(state.recent_deliveries), n).tolist()
            sev = (1 + rng.choice(3, size=n, p=[0.35, 0.45, 0.2])).tolist()
            for ts, pick, severity in zip(times, picks, sev, strict=True):
                oid, fields = state.recent_deliveries[pick]
                state.complaint_seq += 1
                cid = f"K-{state.complaint_seq:09d}"
                queue.push(
                    (
                        ts,
                        state.next_seq(),
                        COMPLAINTS,
                        cid,
                        "complaint",
                        _complaint_fields(cid, oid, fields, inc.reason, severity),
                        None,
                    )
                )

    def _complaint_shares(self) -> list[tuple[str, float]]:
        from streams.dev.simulator.config import COMPLAINT_REASONS

        total = sum(w for _, w in COMPLAINT_REASONS)
        return [(r, w / total) for r, w in COMPLAINT_REASONS]


class _State:
    """Counters and buffers of one pass over the simulation."""

    def __init__(self) -> None:
        self.order_seq = 0
        self.complaint_seq = 0
        self.ticket_seq = 0
        self.review_seq = 0
        self._seq = 0
        self.recent_deliveries: deque[tuple[str, dict[str, Any]]] = deque(maxlen=5_000)

    def next_seq(self) -> int:
        """A strictly increasing tie-breaker for queued items."""
        self._seq += 1
        return self._seq


def _complaint_fields(
    cid: str, oid: str, order: dict[str, Any], reason: str, severity: int
) -> dict[str, Any]:
    return {
        "complaint_id": cid,
        "order_id": oid,
        "customer_id": order["customer_id"],
        "sku": order["sku"],
        "category": order["category"],
        "region": order["region"],
        "carrier": order["carrier"],
        "channel": order["channel"],
        "reason": reason,
        "severity": severity,
    }


_minute_cache: list[Any] = [-1, ""]


def _fmt(ts_ms: int) -> str:
    """:func:`format_ts` with a one-entry cache of the minute prefix (events come in order)."""
    minute, rest = divmod(ts_ms, MS_PER_MINUTE)
    if minute != _minute_cache[0]:
        _minute_cache[0] = minute
        _minute_cache[1] = format_ts(minute * MS_PER_MINUTE)[:17]
    seconds, millis = divmod(rest, 1000)
    return f"{_minute_cache[1]}{seconds:02d}.{millis:03d}Z"


def _build(item: _Item) -> Event:
    ts, _, topic, key, status, fields, reason = item
    if topic == ORDERS:
        value: dict[str, Any] = {
            "event_id": f"{key}:{status}",
            "ts": _fmt(ts),
            "order_id": key,
            "status": status,
        }
        value.update(fields)
        if reason is not None:
            value["reason"] = reason
    else:
        value = {"event_id": f"{key}:{status}", "ts": _fmt(ts)}
        value.update(fields)
    return Event(ts, topic, key, value)


def simulate(config: SimulationConfig) -> Iterator[Event]:
    """Yield the events of ``config`` in event-time order (shortcut for ``Simulation``)."""
    return Simulation(config).events()
