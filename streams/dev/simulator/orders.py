"""Vectorised planning of order lifecycles: attributes, lags, cancellations, returns, complaints.

Size: one vectorised planner of order lifecycles (:class:`OrderModel`) whose lags,
cancellations, returns and complaints read the same per-step arrays. A development
tool, not part of the service.

One call plans every order placed in one time step with a few dozen numpy draws; the
generator then turns each planned timestamp into an event. Times are epoch ms; ``-1``
means "does not happen".

Lifecycle: ``placed`` -> ``paid`` (minutes) -> ``shipped`` (about a day, warehouse hours
07:00-21:00) -> ``delivered`` (region transit days x carrier speed, 08:00-20:00; 30% of
Sunday deliveries slip to Monday) -> maybe ``return_requested`` / ``exchange_requested``
(1 + Gamma(2, 1.5) days) -> ``returned`` (2-8 days, 92%) -> ``refunded`` (returns only,
0.3-3 days). A small share is ``cancelled`` (payment failure before ``paid``, other
reasons before ``shipped``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.dev.simulator.catalog import Catalog
from streams.dev.simulator.config import COMPLAINT_REASONS, SimulationConfig
from streams.dev.simulator.incidents import (
    CarrierDamage,
    Incident,
    OrderDrop,
    SkuReturnSpike,
    SupplierQuality,
    WrongPrice,
    window_ms,
)
from streams.dev.simulator.timefmt import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: P(reason) of a cancellation, in the order of ``CANCEL_REASONS``.
_CANCEL_P = (0.30, 0.42, 0.15, 0.05, 0.08)
SEVERITY_P = {  # reason -> P(severity 1, 2, 3)
    "damaged": (0.30, 0.50, 0.20),
    "late": (0.50, 0.40, 0.10),
    "wrong_item": (0.30, 0.50, 0.20),
    "missing_item": (0.20, 0.40, 0.40),
    "quality": (0.45, 0.40, 0.15),
}
NONE = -1


@dataclass(slots=True)
class OrderPlan:
    """Arrays of length ``n``: one planned lifecycle per order (sorted by ``placed``)."""

    placed: IntArray
    sku: IntArray
    region: IntArray
    carrier: IntArray
    channel: IntArray
    customer: IntArray
    address: IntArray
    quantity: IntArray
    amount: FloatArray
    wrong_price: IntArray  # index of the WrongPrice incident that priced it, or -1
    cancelled: IntArray
    cancel_reason: IntArray
    paid: IntArray
    shipped: IntArray
    delivered: IntArray
    return_kind: IntArray  # 0 none, 1 return, 2 exchange
    return_requested: IntArray
    return_reason: IntArray  # index into OrderModel.return_reasons
    returned: IntArray
    refunded: IntArray
    complaint: IntArray
    complaint_reason: IntArray  # index into COMPLAINT_REASONS
    severity: IntArray
    last: IntArray  # the latest planned event time
    #: True probability of a return/exchange request or complaint (``risk_drivers`` > 0).
    p_risk: FloatArray | None = None
    #: Its parts (``risk_drivers`` > 0): the return chance without the customer's
    #: propensity (uncapped), and the complaint chance; ``p_risk`` is
    #: ``1 - (1 - min(known * propensity, 0.9)) * (1 - complaint)``.
    p_risk_parts: tuple[FloatArray, FloatArray] | None = None


def _cdf(weights: list[float]) -> FloatArray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return c


def _pick(rng: np.random.Generator, cdf: FloatArray, n: int) -> IntArray:
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def _working_hours(
    ts: IntArray, first_hour: float, last_hour: float, rng: np.random.Generator
) -> IntArray:
    """Move times outside ``[first_hour, last_hour)`` into the next open hours."""
    day = ts // MS_PER_DAY
    hour = (ts % MS_PER_DAY) / MS_PER_HOUR
    spread = rng.uniform(0.0, 3.0, size=ts.shape)
    late = hour >= last_hour
    day = np.where(late, day + 1, day)
    closed = late | (hour < first_hour)
    return np.where(
        closed, day * MS_PER_DAY + ((first_hour + spread) * MS_PER_HOUR).astype(np.int64), ts
    )


class OrderModel:
    """Static, per-run lookup arrays and the vectorised :meth:`plan`.

    Parameters
    ----------
    config
        The run's configuration.
    catalog
        The SKU catalogue.
    incidents
        Resolved incidents (targets filled in).
    """

    def __init__(
        self, config: SimulationConfig, catalog: Catalog, incidents: tuple[Incident, ...]
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.region_names = tuple(r.name for r in config.regions)
        self.carrier_names = config.carriers
        self.channel_names = tuple(c for c, _ in config.channels)
        self.category_names = tuple(c.name for c in config.categories)
        self.sku_cdf = _cdf(list(catalog.popularity))
        self.region_cdf = _cdf([r.weight for r in config.regions])
        self.channel_cdf = _cdf([w for _, w in config.channels])
        carrier_index = {c: i for i, c in enumerate(self.carrier_names)}
        self.region_carriers = [
            (
                np.array([carrier_index[c] for c, _ in r.carriers], dtype=np.int64),
                _cdf([w for _, w in r.carriers]),
            )
            for r in config.regions
        ]
        self.delivery_days = np.array([r.delivery_days for r in config.regions])
        crng = np.random.default_rng([config.seed, 2])
        n_carriers = len(self.carrier_names)
        self.carrier_speed = crng.lognormal(0.0, 0.12, n_carriers)
        self.carrier_quality = crng.lognormal(0.0, 0.25, n_carriers)
        self.carrier_quality /= self.carrier_quality.mean()
        self.return_rate = np.array([c.return_rate for c in config.categories])
        self.exchange_share = np.array([c.exchange_share for c in config.categories])
        reasons: dict[str, int] = {}
        for c in config.categories:
            for name, _ in c.return_reasons:
                reasons.setdefault(name, len(reasons))
        for inc in incidents:
            if isinstance(inc, SkuReturnSpike):
                reasons.setdefault(inc.reason, len(reasons))
        reasons.setdefault("damaged", len(reasons))
        self.return_reasons = tuple(reasons)
        self.reason_cdfs = [
            (
                np.array([reasons[r] for r, _ in c.return_reasons], dtype=np.int64),
                _cdf([w for _, w in c.return_reasons]),
            )
            for c in config.categories
        ]
        self.complaint_cdf = _cdf([w for _, w in COMPLAINT_REASONS])
        self.complaint_names = tuple(r for r, _ in COMPLAINT_REASONS)
        self.severity_cdfs = np.array([_cdf(list(SEVERITY_P[r])) for r in self.complaint_names])
        self.cancel_cdf = _cdf(list(_CANCEL_P))
        self.incidents = incidents
        self.supplier_skus: dict[int, npt.NDArray[np.bool_]] = {}
        for i, inc in enumerate(incidents):
            if isinstance(inc, SupplierQuality) and inc.supplier is not None:
                mask = np.zeros(len(catalog.skus), dtype=bool)
                mask[catalog.supplier_skus(inc.supplier, self.category_names)] = True
                self.supplier_skus[i] = mask
        self.first_extra_return: dict[int, int] = {}
        self._risk_drivers(config)
        """Per sku_return_spike incident index: the earliest request of a return the
        spike added (one the SKU's usual rate would not have drawn), epoch ms."""

    def _risk_drivers(self, config: SimulationConfig) -> None:
        """Customer propensities and region x carrier damage factors, from their own
        random stream (``[seed, 7]``); all ones when ``risk_drivers`` is 0."""
        sigma = config.risk_drivers
        n_cells = (len(self.region_names), len(self.carrier_names))
        if sigma <= 0:
            self.propensity = None
            self.cell_damage = np.ones(n_cells)
            return
        rrng = np.random.default_rng([config.seed, 7])
        propensity = rrng.lognormal(0.0, sigma, config.n_customers)
        self.propensity = np.minimum(propensity / propensity.mean(), 8.0)
        damage = rrng.lognormal(0.0, 0.6 * sigma, n_cells)
        self.cell_damage = damage / damage.mean()

    def _propensity_of(self, customer: IntArray) -> FloatArray:
        """Each order's customer's return propensity (1 without drivers; B2B accounts 1)."""
        if self.propensity is None:
            return np.ones(len(customer))
        own = customer < len(self.propensity)
        return np.where(own, self.propensity[np.where(own, customer, 0)], 1.0)

    def _customer_factor(self, customer: IntArray, quantity: IntArray) -> FloatArray:
        """Return-propensity multiplier per order: the customer's propensity, and more for
        larger quantities."""
        return self._propensity_of(customer) * (1.0 + 0.25 * (np.minimum(quantity, 4) - 1))

    def plan(self, rng: np.random.Generator, placed: IntArray, *, drop: bool = True) -> OrderPlan:
        """Plan the lifecycle of orders placed at ``placed`` (sorted epoch ms)."""
        cat = self.catalog
        n = len(placed)
        sku = np.searchsorted(self.sku_cdf, rng.random(n), side="right").astype(np.int64)
        region = _pick(rng, self.region_cdf, n)
        channel = _pick(rng, self.channel_cdf, n)
        if drop:
            keep = self._keep_mask(rng, placed, region, channel)
            if not keep.all():
                placed, sku, region, channel = placed[keep], sku[keep], region[keep], channel[keep]
                n = len(placed)
        carrier = np.empty(n, dtype=np.int64)
        u = rng.random(n)
        for r, (ids, cdf) in enumerate(self.region_carriers):
            mask = region == r
            carrier[mask] = ids[np.searchsorted(cdf, u[mask], side="right")]
        customer = rng.integers(0, self.config.n_customers, n)
        address = np.where(rng.random(n) < 0.15, customer + self.config.n_customers, customer)
        customer, address = self._busy_entities(rng, customer, address)
        quantity = np.minimum(rng.geometric(0.72, n), 8).astype(np.int64)
        discount = np.where(rng.random(n) < 0.2, rng.uniform(0.7, 0.95, n), 1.0)
        amount = cat.price[sku] * quantity * discount
        wrong_price = np.full(n, NONE, dtype=np.int64)
        for i, inc in enumerate(self.incidents):
            if isinstance(inc, WrongPrice) and inc.sku is not None:
                start, end = window_ms(inc)
                hit = (sku == cat.index_of(inc.sku)) & (placed >= start) & (placed < end)
                amount = np.where(hit, amount * inc.magnitude, amount)
                wrong_price[hit] = i
        amount = np.round(amount, 2)

        # payment, cancellation
        paid = placed + (rng.exponential(4.0, n) * MS_PER_MINUTE).astype(np.int64) + 5_000
        is_cancel = rng.random(n) < self.config.cancel_rate
        cancel_reason = np.where(is_cancel, _pick(rng, self.cancel_cdf, n), NONE)
        before_pay = cancel_reason == 0
        cancel_lag = np.where(
            before_pay,
            rng.uniform(5, 40, n) * MS_PER_MINUTE,
            rng.uniform(0.5, 20.0, n) * MS_PER_HOUR,
        ).astype(np.int64)
        cancelled = np.where(is_cancel, np.where(before_pay, placed, paid) + cancel_lag, NONE)
        paid = np.where(before_pay, NONE, paid)

        # shipping and delivery
        ship_lag = (rng.gamma(2.0, 0.35, n) * MS_PER_DAY).astype(np.int64)
        shipped = _working_hours(np.maximum(paid, placed) + ship_lag, 7.0, 21.0, rng)
        expected_days = self.delivery_days[region] * self.carrier_speed[carrier]
        transit_days = expected_days * rng.lognormal(0.0, 0.3, n)
        arrive_day = (shipped + (transit_days * MS_PER_DAY).astype(np.int64)) // MS_PER_DAY
        delivered = arrive_day * MS_PER_DAY + (
            (8.0 + rng.uniform(0.0, 12.0, n)) * MS_PER_HOUR
        ).astype(np.int64)
        delivered = np.where(
            delivered < shipped + 4 * MS_PER_HOUR, delivered + MS_PER_DAY, delivered
        )
        sunday = ((delivered // MS_PER_DAY + 3) % 7 == 6) & (rng.random(n) < 0.3)
        delivered = np.where(sunday, delivered + MS_PER_DAY, delivered)
        shipped = np.where(is_cancel, NONE, shipped)
        delivered = np.where(is_cancel, NONE, delivered)
        ok = ~is_cancel

        # returns and exchanges
        cat_idx = cat.category[sku]
        p_return = self.return_rate[cat_idx] * cat.return_factor[sku]
        drivers = self.propensity is not None
        if drivers:
            p_return = p_return * self._customer_factor(customer, quantity)
        p_usual = np.minimum(p_return, 0.9)
        spiked = np.full(n, NONE, dtype=np.int64)
        short = np.zeros(n, dtype=bool)
        spike_reason = np.full(n, NONE, dtype=np.int64)
        damaged = np.zeros(n, dtype=bool)
        u_damage = rng.random(n)
        p_base_complaint = self.config.complaint_rate * self.carrier_quality[carrier]
        if drivers:
            p_base_complaint = np.minimum(p_base_complaint * self.cell_damage[region, carrier], 0.5)
        for index, inc in enumerate(self.incidents):
            start, end = window_ms(inc)
            in_window = ok & (delivered >= start) & (delivered < end)
            if isinstance(inc, SkuReturnSpike) and inc.sku is not None:
                hit = in_window & (sku == cat.index_of(inc.sku))
                p_return = np.where(hit, p_return * inc.magnitude, p_return)
                spiked[hit] = index
                short |= hit
                spike_reason[hit] = self.return_reasons.index(inc.reason)
            elif isinstance(inc, CarrierDamage) and inc.region is not None:
                hit = (
                    in_window
                    & (region == self.region_names.index(inc.region))
                    & (carrier == self.carrier_names.index(inc.carrier or ""))
                )
                damaged |= hit & (u_damage < p_base_complaint * (inc.magnitude - 1.0))
        p_uncapped = p_return
        p_return = np.minimum(p_return, 0.9)
        u_ret = rng.random(n)
        is_return = ok & (u_ret < p_return)
        is_exchange = is_return & (rng.random(n) < self.exchange_share[cat_idx])
        reason = np.full(n, NONE, dtype=np.int64)
        u_reason = rng.random(n)
        for c, (ids, cdf) in enumerate(self.reason_cdfs):
            mask = cat_idx == c
            reason[mask] = ids[np.searchsorted(cdf, u_reason[mask], side="right")]
        use_spike = (spike_reason != NONE) & (rng.random(n) < 0.85)
        reason = np.where(use_spike, spike_reason, reason)
        lag_days = np.where(
            short, rng.uniform(1.0, 3.0, n), np.minimum(1.0 + rng.gamma(2.0, 1.5, n), 25.0)
        )
        damage_return = damaged & (rng.random(n) < 0.9)
        lag_days = np.where(damage_return, rng.uniform(0.2, 2.0, n), lag_days)
        reason = np.where(damage_return, self.return_reasons.index("damaged"), reason)
        is_return |= damage_return
        return_kind = np.where(is_return, np.where(is_exchange, 2, 1), 0).astype(np.int64)
        return_requested = np.where(
            is_return, delivered + (lag_days * MS_PER_DAY).astype(np.int64), NONE
        )
        comes_back = is_return & (rng.random(n) < 0.92)
        returned = np.where(
            comes_back,
            return_requested + (rng.uniform(2.0, 8.0, n) * MS_PER_DAY).astype(np.int64),
            NONE,
        )
        refund = comes_back & (return_kind == 1) & (rng.random(n) < 0.97)
        refunded = np.where(
            refund, returned + (rng.uniform(0.3, 3.0, n) * MS_PER_DAY).astype(np.int64), NONE
        )
        reason = np.where(is_return, reason, NONE)
        extra = is_return & (spiked != NONE) & (u_ret >= p_usual)
        for i, first in zip(spiked[extra].tolist(), return_requested[extra].tolist(), strict=True):
            if first < self.first_extra_return.get(i, 1 << 62):
                self.first_extra_return[i] = first

        # complaints tied to deliveries
        u_c = rng.random(n)
        c_reason = _pick(rng, self.complaint_cdf, n)
        has_c = ok & (u_c < p_base_complaint)
        lateness = transit_days - expected_days
        late_extra = ok & ~has_c & (lateness > 1.5) & (rng.random(n) < 0.3)
        late_idx = self.complaint_names.index("late")
        c_reason = np.where(late_extra, late_idx, c_reason)
        has_c |= late_extra
        dmg_c = damaged & (rng.random(n) < 0.7)
        c_reason = np.where(dmg_c, self.complaint_names.index("damaged"), c_reason)
        has_c |= dmg_c
        quality_c = self._supplier_complaints(rng, placed, sku, delivered, ok & ~has_c)
        c_reason = np.where(quality_c, self.complaint_names.index("quality"), c_reason)
        has_c |= quality_c
        dmg_c |= quality_c  # same timing: soon after delivery
        after_delivery = delivered + (rng.gamma(1.5, 10.0, n) * MS_PER_HOUR).astype(np.int64)
        while_late = shipped + ((delivered - shipped) * rng.uniform(0.6, 1.1, n)).astype(np.int64)
        soon = delivered + (rng.uniform(0.5, 30.0, n) * MS_PER_HOUR).astype(np.int64)
        c_time = np.where(c_reason == late_idx, while_late, after_delivery)
        c_time = np.where(dmg_c, soon, c_time)
        complaint = np.where(has_c, c_time, NONE)
        complaint_reason = np.where(has_c, c_reason, NONE)
        u_sev = rng.random(n)
        sev_cdf = self.severity_cdfs[np.maximum(complaint_reason, 0)]
        severity = 1 + (u_sev[:, None] >= sev_cdf).sum(axis=1).clip(0, 2)

        last = np.max(
            np.stack(
                [
                    placed,
                    paid,
                    cancelled,
                    shipped,
                    delivered,
                    return_requested,
                    returned,
                    refunded,
                    complaint,
                ]
            ),
            axis=0,
        )
        p_risk = None
        parts = None
        if drivers:
            p_late = np.where(lateness > 1.5, 0.3, 0.0)
            p_c = p_base_complaint + (1 - p_base_complaint) * p_late
            p_c = 1 - (1 - p_c) * (1 - np.where(damaged, 0.9 + 0.1 * 0.7, 0.0))
            p_risk = np.where(ok, 1 - (1 - p_return) * (1 - p_c), 0.0)
            # Everything of the return chance but the customer's propensity (uncapped).
            parts = (p_uncapped / self._propensity_of(customer), p_c)
        return OrderPlan(
            placed,
            sku,
            region,
            carrier,
            channel,
            customer,
            address,
            quantity,
            amount,
            wrong_price,
            cancelled,
            cancel_reason,
            paid,
            shipped,
            delivered,
            return_kind,
            return_requested,
            reason,
            returned,
            refunded,
            complaint,
            complaint_reason,
            severity.astype(np.int64),
            last,
            p_risk,
            parts,
        )

    def _busy_entities(
        self, rng: np.random.Generator, customer: IntArray, address: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Move a share of orders to B2B accounts and to pick-up points (when configured).

        Customer ``n_customers + j`` is B2B account ``j``, at address ``2 n_customers + j``;
        pick-up point ``k`` is address ``2 n_customers + b2b_customers + k``. No draws are
        made when neither is configured, so older configurations give the same bytes.
        """
        cfg = self.config
        n = len(customer)
        if cfg.b2b_share > 0 and n:
            b2b = rng.random(n) < cfg.b2b_share
            account = rng.integers(0, cfg.b2b_customers, n)
            customer = np.where(b2b, cfg.n_customers + account, customer)
            address = np.where(b2b, 2 * cfg.n_customers + account, address)
        if cfg.pickup_share > 0 and n:
            pickup = rng.random(n) < cfg.pickup_share
            point = rng.integers(0, cfg.pickup_points, n)
            address = np.where(pickup, 2 * cfg.n_customers + cfg.b2b_customers + point, address)
        return customer, address

    def _supplier_complaints(
        self,
        rng: np.random.Generator,
        placed: IntArray,
        sku: IntArray,
        delivered: IntArray,
        eligible: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_]:
        """Extra ``quality`` complaints of supplier-quality incidents (no draws without one)."""
        out = np.zeros(len(placed), dtype=bool)
        for i, mask in self.supplier_skus.items():
            start, end = window_ms(self.incidents[i])
            hit = eligible & mask[sku] & (delivered >= start) & (delivered < end)
            out |= hit & (rng.random(len(placed)) < self.incidents[i].magnitude)
        return out

    def _keep_mask(
        self, rng: np.random.Generator, placed: IntArray, region: IntArray, channel: IntArray
    ) -> npt.NDArray[np.bool_]:
        keep = np.ones(len(placed), dtype=bool)
        drops = [inc for inc in self.incidents if isinstance(inc, OrderDrop)]
        if not drops:
            return keep
        u = rng.random(len(placed))
        for inc in drops:
            start, end = window_ms(inc)
            hit = (placed >= start) & (placed < end)
            if inc.channel is not None:
                hit &= channel == self.channel_names.index(inc.channel)
            if inc.region is not None:
                hit &= region == self.region_names.index(inc.region)
            keep &= ~hit | (u < inc.magnitude)
        return keep
