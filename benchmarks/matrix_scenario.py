"""The quality matrix's traffic: one simulation per (volume, seed), with an obvious and a
subtle incident of every type, a planned promotion and busy-by-nature entities.

Targets are picked by what makes them comparable across volumes (a SKU with 20-60
orders a day, a region x carrier cell with 2-3.5 % of deliveries, a supplier with
2-6 % of orders) and sizes are given in the units the issue uses (percentage points,
factors), converted to the simulator's magnitudes from its own known parameters. Each
incident carries its oracle delay, computed from the same before/after parameters
(:mod:`benchmarks.matrix_scoring`).

Schedule (days after the Monday start; hours jittered per seed): wait surge obvious d7,
outage obvious d8, sizing errors from d8, carrier damage d9/d10, promotion from d9 08:00,
supplier quality d10/d11, outage subtle d11, complaint spike d8/d12, bursts d9-d12,
wrong prices d9/d12. Nothing before day 7: baselines need history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from benchmarks.matrix_scoring import (
    LognormalLag,
    kl_binomial,
    kl_lognormal_shift,
    kl_poisson,
    lagged_oracle_ms,
)
from streams.dev.simulator.config import COMPLAINT_REASONS, DEFAULT_START, SimulationConfig
from streams.dev.simulator.generator import Simulation
from streams.dev.simulator.incidents import (
    CarrierDamage,
    ComplaintSpike,
    CustomerBurst,
    Incident,
    OrderDrop,
    SkuReturnSpike,
    SupplierQuality,
    WaitTimeSurge,
    WrongPrice,
)
from streams.dev.simulator.promotion import Promotion
from streams.dev.simulator.seasonality import seasonal
from streams.dev.simulator.service import WAIT_LOG_SIGMA, median_wait_s, queue_load
from streams.rules.catalogue import RuleSet, load_rules

BASE_ORDERS_PER_DAY = SimulationConfig().orders_per_day
VOLUMES: dict[str, float] = {"0.3x": 0.3, "1x": 1.0, "3x": 3.0}
TICKETS_PER_ORDER = 0.08
"""1,600 tickets a day at 1x: a few hundred per queue (the simulator's 0.9 gives 18,000)."""
DAYS = 14.0
MS_PER_MIN = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
COMPLAINT_LAG_H = (0.5, 30.0)
"""A damaged parcel's or a faulty product's complaint comes this many hours after its
delivery, uniformly (:mod:`streams.dev.simulator.orders`)."""
DAMAGE_RETURN_LAG_H = (0.2 * 24, 2.0 * 24)
"""A damaged parcel's return request comes 0.2-2 days after its delivery, uniformly."""
KINDS = (
    "wait_surge",
    "checkout_outage",
    "carrier_damage",
    "sizing_error",
    "supplier_quality",
    "complaint_spike",
    "customer_burst",
    "address_burst",
    "wrong_price",
)
"""Incident types of the matrix, in table order."""


@dataclass(frozen=True, slots=True)
class MatrixIncident:
    """One injected incident with its matrix type, magnitude class and oracle delay."""

    kind: str
    magnitude: str  # "obvious" | "subtle"
    incident: Incident
    oracle_ms: float | None
    size: str  # what was injected, in the units


@dataclass(frozen=True, slots=True)
class MatrixRun:
    """The configuration of one (volume, seed) run and what it injects."""

    volume: str
    seed: int
    config: SimulationConfig
    incidents: tuple[MatrixIncident, ...]
    promotion: Promotion


def pooled_wait_log_sigma(config: SimulationConfig) -> float:
    """Log-sd of all waits of a queue: the per-wait 0.8 plus the spread of channel medians."""
    weights = np.array([w for _, w in config.contact_channels])
    weights = weights / weights.sum()
    logs = np.log([median_wait_s(c) for c, _ in config.contact_channels])
    mean = float(weights @ logs)
    return math.sqrt(WAIT_LOG_SIGMA**2 + float(weights @ (logs - mean) ** 2))


def mean_seasonal(start_ms: int, end_ms: int) -> float:
    """Mean daily x weekly traffic intensity over ``[start_ms, end_ms)`` (no noise)."""
    ts = np.arange(start_ms, max(end_ms, start_ms + 1), 5 * MS_PER_MIN, dtype=np.int64)
    return float(seasonal(ts).mean())


def _at(day: int, hours: float) -> datetime:
    return DEFAULT_START + timedelta(days=day, hours=hours)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class _Builder:
    """Known parameters of one probe simulation and the rule set, for sizes and oracles."""

    def __init__(self, volume: float, seed: int, rules: RuleSet) -> None:
        self.rng = np.random.default_rng([seed, 4242])
        self.seed = seed
        self.base = SimulationConfig(
            seed=seed,
            duration=timedelta(days=DAYS),
            orders_per_day=BASE_ORDERS_PER_DAY * volume,
            tickets_per_order=TICKETS_PER_ORDER,
            pickup_points=25,
            pickup_share=0.05,
            b2b_customers=10,
            b2b_share=0.01,
        )
        self.sim = Simulation(self.base)
        self.opd = self.base.orders_per_day
        self.rules = rules
        cats = self.sim.orders.category_names
        self.cat_names = cats
        self.suppliers: dict[str, list[int]] = {}
        for i in range(len(self.sim.catalog.skus)):
            self.suppliers.setdefault(self.sim.catalog.supplier_of(i, cats), []).append(i)

    def hop(self, rule: str) -> int:
        """The hop of ``rule`` in the rules under test; the shipped rules' when a rules
        file leaves the rule out (``--rules`` with a few rules, to look at those)."""
        try:
            return self.rules.by_name(rule).hop_ms
        except KeyError:
            return load_rules(None).by_name(rule).hop_ms

    def pick(self, items: list[str], k: int = 2) -> list[str]:
        return [items[i] for i in self.rng.choice(len(items), size=k, replace=False)]

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    # -- per type --------------------------------------------------------------------------

    def wait_surge(self, mag: str, queue: str, day: int, hour: float) -> MatrixIncident:
        factor = 4.0 if mag == "obvious" else 2.0
        start = _at(day, hour)
        duration = timedelta(hours=self.uniform(2.0, 4.0))
        share = dict(self.base.queues)[queue] / sum(w for _, w in self.base.queues)
        hop = self.hop("wait_time_p90")
        s = mean_seasonal(_ms(start), _ms(start + duration))
        n = self.opd * TICKETS_PER_ORDER * share * s * hop / MS_PER_DAY * 1.3
        inc = WaitTimeSurge(start=start, duration=duration, queue=queue, magnitude=factor)
        return MatrixIncident(
            "wait_surge",
            mag,
            inc,
            lagged_oracle_ms(
                lambda f: kl_lognormal_shift(factor, WAIT_LOG_SIGMA, n * f),
                hop,
                _hours(duration),
                self.surge_waits(factor, s),
            ),
            f"waits x{factor:g} on {queue} for {_h(duration)}",
        )

    def surge_waits(self, factor: float, intensity: float) -> LognormalLag:
        """When a surge's waits arrive: a wait is an event when it ends (the simulator
        stamps it at the answer), so each surged wait, x ``factor`` its channel's median
        at the queue's load, arrives that long after its ticket."""
        load = queue_load(intensity)
        channels = self.base.contact_channels
        return LognormalLag(
            tuple(median_wait_s(c) * load * factor / 3600.0 for c, _ in channels),
            tuple(w for _, w in channels),
            WAIT_LOG_SIGMA,
        )

    def outage(self, mag: str, channel: str, day: int, hour: float) -> MatrixIncident:
        keep = 0.5 if mag == "obvious" else 0.7
        start = _at(day, hour)
        duration = timedelta(minutes=self.uniform(60, 120))
        share = dict(self.base.channels)[channel] / sum(w for _, w in self.base.channels)
        hop = self.hop("order_volume")
        lam = self.opd * share * mean_seasonal(_ms(start), _ms(start + duration)) * hop / MS_PER_DAY
        inc = OrderDrop(start=start, duration=duration, channel=channel, magnitude=keep)
        return MatrixIncident(
            "checkout_outage",
            mag,
            inc,
            lagged_oracle_ms(
                lambda f: kl_poisson(lam, lam * (1 - (1 - keep) * f)), hop, _hours(duration)
            ),
            f"{channel} orders x{keep:g} for {_h(duration)}",
        )

    def carrier_damage(
        self, mag: str, cell: tuple[str, str, float], start: datetime, duration: timedelta
    ) -> MatrixIncident:
        region, carrier, share = cell
        pp = self.uniform(0.15, 0.20) if mag == "obvious" else self.uniform(0.06, 0.09)
        quality = self.sim.orders.carrier_quality[self.sim.orders.carrier_names.index(carrier)]
        p_base = self.base.complaint_rate * float(quality)
        hop = self.hop("complaint_rate")
        n = self.opd * share * (1 - self.base.cancel_rate) * hop / MS_PER_DAY
        p_ret = self._mean_return_rate()
        span = _hours(duration)
        # Damaged deliveries bring complaints (70 %) and returns (90 %), each after its
        # own lag: the best single series is the sooner of the two.
        oracle = min(
            lagged_oracle_ms(
                lambda f: kl_binomial(p_base, p_base + 0.7 * pp * f, n), hop, span, COMPLAINT_LAG_H
            ),
            lagged_oracle_ms(
                lambda f: kl_binomial(p_ret, min(p_ret + 0.9 * pp * f, 0.95), n),
                self.hop("return_rate"),
                span,
                DAMAGE_RETURN_LAG_H,
            ),
        )
        inc = CarrierDamage(
            start=start,
            duration=duration,
            region=region,
            carrier=carrier,
            magnitude=1.0 + pp / p_base,
        )
        return MatrixIncident(
            "carrier_damage",
            mag,
            inc,
            oracle,
            f"+{pp * 100:.1f} pp damaged on {region},{carrier} "
            f"({share * 100:.1f} % of deliveries) for {_h(duration)}",
        )

    def sizing_error(self, mag: str, sku: int, start: datetime) -> MatrixIncident:
        pp = self.uniform(0.25, 0.30) if mag == "obvious" else self.uniform(0.11, 0.15)
        cat = self.sim.catalog
        p0 = float(self.sim.orders.return_rate[cat.category[sku]] * cat.return_factor[sku])
        p1 = min(p0 + pp, 0.9)
        hop = self.hop("return_rate")
        n = self.opd * float(cat.popularity[sku]) * (1 - self.base.cancel_rate) * hop / MS_PER_DAY
        inc = SkuReturnSpike(
            start=start, duration=timedelta(days=2), sku=cat.skus[sku], magnitude=p1 / p0
        )
        return MatrixIncident(
            "sizing_error",
            mag,
            inc,
            # Timed from its first extra return (not from the start): a step from there.
            lagged_oracle_ms(lambda f: kl_binomial(p0, p0 + (p1 - p0) * f, n), hop, math.inf),
            f"+{pp * 100:.0f} pp returns on {cat.skus[sku]} "
            f"({self.opd * cat.popularity[sku]:.0f} orders/day)",
        )

    def supplier(
        self, mag: str, supplier: str, start: datetime, duration: timedelta
    ) -> MatrixIncident:
        pp = self.uniform(0.08, 0.10) if mag == "obvious" else self.uniform(0.025, 0.035)
        cat = self.sim.catalog
        skus = self.suppliers[supplier]
        sup_share = float(cat.popularity[skus].sum())
        c = int(cat.category[skus[0]])
        cat_share = float(cat.popularity[cat.category == c].sum())
        p0 = self.base.complaint_rate
        hop_rate, hop_vol = self.hop("complaint_rate"), self.hop("complaint_volume")
        deliveries = self.opd * (1 - self.base.cancel_rate)
        n_cat = deliveries * cat_share * hop_rate / MS_PER_DAY
        top = max(skus, key=lambda i: cat.popularity[i])
        n_sku = deliveries * float(cat.popularity[top]) * hop_rate / MS_PER_DAY
        quality = dict(COMPLAINT_REASONS)["quality"] / sum(w for _, w in COMPLAINT_REASONS)
        lam0 = deliveries * p0 * quality * hop_vol / MS_PER_DAY
        extra = deliveries * sup_share * pp * hop_vol / MS_PER_DAY
        span, lag = _hours(duration), COMPLAINT_LAG_H
        # The category's rate (of all complaints, or of quality complaints alone), the
        # busiest SKU's rate, or the count of quality complaints.
        lift = pp * sup_share / cat_share
        best = min(
            lagged_oracle_ms(lambda f: kl_binomial(p0, p0 + lift * f, n_cat), hop_rate, span, lag),
            lagged_oracle_ms(
                lambda f: kl_binomial(p0 * quality, p0 * quality + lift * f, n_cat),
                hop_rate,
                span,
                lag,
            ),
            lagged_oracle_ms(lambda f: kl_binomial(p0, p0 + pp * f, n_sku), hop_rate, span, lag),
            lagged_oracle_ms(lambda f: kl_poisson(lam0, lam0 + extra * f), hop_vol, span, lag),
        )
        inc = SupplierQuality(start=start, duration=duration, supplier=supplier, magnitude=pp)
        return MatrixIncident(
            "supplier_quality",
            mag,
            inc,
            best,
            f"+{pp * 100:.1f} pp quality complaints on {supplier} "
            f"({sup_share * 100:.1f} % of orders) for {_h(duration)}",
        )

    def complaint_spike(self, mag: str, reason: str, day: int, hour: float) -> MatrixIncident:
        factor = 4.0 if mag == "obvious" else 2.0
        start, duration = _at(day, hour), timedelta(hours=6)
        share = dict(COMPLAINT_REASONS)[reason] / sum(w for _, w in COMPLAINT_REASONS)
        hop = self.hop("complaint_volume")
        lam0 = self.opd * self.base.complaint_rate * share * hop / MS_PER_DAY
        lam1 = lam0 * (1 + (factor - 1) * mean_seasonal(_ms(start), _ms(start + duration)))
        inc = ComplaintSpike(start=start, duration=duration, reason=reason, magnitude=factor)
        return MatrixIncident(
            "complaint_spike",
            mag,
            inc,
            lagged_oracle_ms(
                lambda f: kl_poisson(lam0, lam0 + (lam1 - lam0) * f), hop, _hours(duration)
            ),
            f"{reason} complaints x{factor:g} for 6h",
        )

    def burst(self, kind: str, mag: str, day: int, hour: float) -> MatrixIncident:
        distinct = kind == "address_burst"
        if mag == "obvious":
            orders, duration = 15, timedelta(minutes=10)
        else:
            lo, hi = (9, 12) if distinct else (8, 11)
            orders = int(self.rng.integers(lo, hi + 1))
            duration = timedelta(minutes=self.uniform(45, 90))
        tag = f"{self.seed}{'A' if distinct else 'C'}{mag[0]}"
        hop = self.hop("customer_order_burst")
        lam0 = self.opd / self.base.n_customers * hop / MS_PER_DAY
        lam1 = orders * min(1.0, hop / (duration.total_seconds() * 1000))
        inc = CustomerBurst(
            start=_at(day, hour),
            duration=duration,
            customer_id=f"C-NEW{tag}",
            address_id=f"A-NEW{tag}",
            magnitude=float(orders),
            distinct_customers=distinct,
        )
        who = "customers at one new address" if distinct else "orders by one new customer"
        # One false burst per 30 days over all customers (addresses: twice as many).
        entities = self.base.n_customers * (2 if distinct else 1)
        return MatrixIncident(
            kind,
            mag,
            inc,
            lagged_oracle_ms(
                lambda f: kl_poisson(lam0, lam0 + (lam1 - lam0) * f),
                hop,
                _hours(duration),
                series=entities,
            ),
            f"{orders} {who} in {_h(duration)}",
        )

    def wrong_price(self, mag: str, sku: int, day: int, hour: float) -> MatrixIncident:
        factor, duration = (
            (0.1, timedelta(hours=2)) if mag == "obvious" else (0.4, timedelta(hours=3))
        )
        inc = WrongPrice(
            start=_at(day, hour),
            duration=duration,
            sku=self.sim.catalog.skus[sku],
            magnitude=factor,
        )
        # Per-event rule: the oracle is the first mis-priced order (filled in after the run).
        return MatrixIncident(
            "wrong_price",
            mag,
            inc,
            None,
            f"price x{factor:g} on {self.sim.catalog.skus[sku]} "
            f"({self.opd * self.sim.catalog.popularity[sku]:.0f} orders/day)",
        )

    # -- target pools ----------------------------------------------------------------------

    def _mean_return_rate(self) -> float:
        cat = self.sim.catalog
        p = self.sim.orders.return_rate[cat.category] * cat.return_factor
        return float(np.minimum(p, 0.9) @ cat.popularity)

    def cells(self) -> list[tuple[str, str, float]]:
        out = []
        total = sum(r.weight for r in self.base.regions)
        for r in self.base.regions:
            carrier_total = sum(w for _, w in r.carriers)
            for carrier, w in r.carriers:
                share = r.weight / total * w / carrier_total
                if 0.02 <= share <= 0.035:
                    out.append((r.name, carrier, share))
        return out

    def sizing_skus(self) -> list[int]:
        cat = self.sim.catalog
        fashion = [i for i, c in enumerate(self.base.categories) if c.name in ("apparel", "shoes")]
        daily = self.opd * cat.popularity
        return [
            i
            for i in range(len(cat.skus))
            if int(cat.category[i]) in fashion
            and 20 <= daily[i] <= 60
            and 0.75 <= cat.return_factor[i] <= 1.25
        ]

    def supplier_pool(self) -> list[str]:
        pop = self.sim.catalog.popularity
        return sorted(
            s for s, skus in self.suppliers.items() if 0.02 <= float(pop[skus].sum()) <= 0.06
        )

    def price_skus(self, mag: str) -> list[int]:
        daily = self.opd * self.sim.catalog.popularity
        if mag == "obvious":
            return [self.sim.catalog.by_rank(r) for r in range(1, 6)]
        return [i for i in range(len(daily)) if 20 <= daily[i] <= 60]


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def _h(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def build_run(volume: str, seed: int, rules: RuleSet) -> MatrixRun:
    """The simulation config and incidents of one (volume, seed) cell of the matrix."""
    b = _Builder(VOLUMES[volume], seed, rules)
    u = b.uniform
    out: list[MatrixIncident] = []
    queues = b.pick([q for q, _ in b.base.queues if q != "payments"])
    out.append(b.wait_surge("obvious", queues[0], 7, u(13, 17)))
    out.append(b.wait_surge("subtle", queues[1], 10, u(15, 19)))
    channels = b.pick([c for c, _ in b.base.channels])
    out.append(b.outage("obvious", channels[0], 8, u(10, 20)))
    out.append(b.outage("subtle", channels[1], 11, u(10, 20)))
    cells = b.cells()
    c1, c2 = (cells[i] for i in b.rng.choice(len(cells), size=2, replace=False))
    out.append(b.carrier_damage("obvious", c1, _at(9, u(0, 12)), timedelta(days=u(1.0, 2.5))))
    out.append(b.carrier_damage("subtle", c2, _at(10, u(0, 12)), timedelta(days=u(1.0, 1.5))))
    skus = b.sizing_skus()
    s1, s2 = (skus[i] for i in b.rng.choice(len(skus), size=2, replace=False))
    out.append(b.sizing_error("obvious", s1, _at(8, u(0, 12))))
    out.append(b.sizing_error("subtle", s2, _at(8, u(12, 24))))
    pool = b.supplier_pool()
    first = pool[int(b.rng.integers(len(pool)))]
    others = [s for s in pool if s.rsplit("-", 1)[0] != first.rsplit("-", 1)[0]]
    second = others[int(b.rng.integers(len(others)))]
    out.append(b.supplier("obvious", first, _at(10, u(0, 12)), timedelta(days=1.5)))
    out.append(b.supplier("subtle", second, _at(11, u(0, 6)), timedelta(days=1.5)))
    reasons = b.pick(["wrong_item", "missing_item"])
    out.append(b.complaint_spike("obvious", reasons[0], 8, u(8, 12)))
    out.append(b.complaint_spike("subtle", reasons[1], 12, u(8, 12)))
    out.append(b.burst("customer_burst", "obvious", 9, u(10, 20)))
    out.append(b.burst("customer_burst", "subtle", 11, u(10, 19)))
    out.append(b.burst("address_burst", "obvious", 10, u(14, 20)))
    out.append(b.burst("address_burst", "subtle", 12, u(10, 19)))
    obvious_price = b.price_skus("obvious")
    subtle_price = [i for i in b.price_skus("subtle") if i not in (s1, s2)]
    out.append(
        b.wrong_price(
            "obvious", obvious_price[int(b.rng.integers(len(obvious_price)))], 9, u(10, 16)
        )
    )
    out.append(
        b.wrong_price("subtle", subtle_price[int(b.rng.integers(len(subtle_price)))], 12, u(10, 16))
    )
    promo = Promotion(
        start=_at(9, 8.0),
        ramp=timedelta(hours=8),
        hold=timedelta(hours=u(12, 24)),
        ramp_down=timedelta(hours=4),
        peak=u(2.0, 2.5),
    )
    config = _replace(b.base, incidents=tuple(m.incident for m in out), promotions=(promo,))
    return MatrixRun(volume, seed, config, tuple(out), promo)


def _replace(config: SimulationConfig, **changes: object) -> SimulationConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]
