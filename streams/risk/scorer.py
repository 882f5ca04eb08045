"""Per-order risk from the stream's own history, learned online from later outcomes.

Size: the scorer and the small state records it updates (customers, SKUs, cells, open
orders), with their snapshot forms; they change together whenever a feature is added.

State (all bounded):

* **customers** (keyed by customer id, evicted after ``customer_idle_ms`` without an
  event, 180 days by default): orders placed, orders that ended in a return/exchange
  request or a complaint against the number their SKUs and cells alone would expect
  (the history factor is ``log((observed + 1) / (expected + 1))``, a Poisson-gamma
  shrunk ratio, as in indirect standardisation), amounts, the addresses used (at most 4).
* **addresses**: distinct customers seen at an address (at most 8), evicted after
  ``address_idle_ms`` (60 days).
* **SKUs and categories**: delivered orders and return/exchange requests (long-run
  beta-binomial counts) and, per SKU, the same with a two-day decay (a live surge).
* **cells** (region x carrier): complaints per delivered order and transit hours,
  decayed with a three-day time constant (the cell's *current* condition).
* **open orders**: what is needed to label them later (the three stages' feature
  vectors as float32), dropped ``label_delay_ms`` (14 days) after delivery, once
  learned from, or ``open_ms`` (60 days) after being placed if never delivered;
  cancelled orders at once.

Factors are centred so that 0 means "as usual": e.g. the SKU's return rate is
``logit(r_sku) - logit(r_category)`` with ``r_sku`` shrunk to its category,
``(returns + m r_cat) / (delivered + m)``, ``m = 20`` (beta-binomial posterior mean,
Gelman et al., *Bayesian Data Analysis*, 3rd ed., ch. 5.3). Each stage (placed,
shipped, delivered) has its own :class:`~streams.risk.model.OnlineLogit`; an order's
vectors are learned from ``label_delay_ms`` after its delivery, positive if a return
or exchange request or a complaint came by then, else negative. Positives and
negatives are learned at the same delay: learning a positive at once and a negative
weeks later would show the model nothing but positives for the first weeks. 14 days
catch about 95 % of what comes within 30 (the benchmark's label). Prequential by
construction: a score reads the state before its own event, and labels only arrive
later in event time.

Deterministic: facts must be given in one total order (:class:`~streams.risk.shard.RiskShard`
sorts them by event time and event id); expiry and eviction are driven by the facts'
own times, never by a clock.
"""

from __future__ import annotations

import heapq
import math
import operator
from array import array
from typing import Any, Final

from streams.risk.facts import RiskFact
from streams.risk.model import OnlineLogit
from streams.risk.record import Factor, RiskRecord, Stage

__all__ = ["FEATURES", "RiskScorer"]

FEATURES: Final[tuple[str, ...]] = (
    "sku_return_rate",
    "category_return_rate",
    "sku_return_surge",
    "customer_history",
    "new_customer",
    "amount_vs_customer",
    "amount_vs_sku",
    "quantity",
    "cell_complaint_rate",
    "transit_time",
    "late_days",
    "address_shared",
    "customer_addresses",
)
STAGES: Final[tuple[Stage, ...]] = ("placed", "shipped", "delivered")
_DAY_MS: Final = 86_400_000
_HOUR_MS: Final = 3_600_000
_EPS: Final = 1e-4
_MAX_ADDRESSES: Final = 4
_MAX_CUSTOMERS_AT_ADDRESS: Final = 8


#: Feature positions in name order: factors listed in it and then sorted by contribution
#: (stable, descending) come out by ``(-contribution, name)`` without a key per factor.
_BY_NAME: Final = tuple(sorted(range(len(FEATURES)), key=FEATURES.__getitem__))
_CONTRIBUTION: Final = operator.itemgetter(2)
#: ``Factor(...)`` is a Python-level ``__new__``; this is what it calls (13 per record).
_new_tuple: Final = tuple.__new__


def _factors(values: list[float], weights: list[float]) -> list[Factor]:
    """Each feature's value and contribution ``w * v`` rounded to 4 decimals (half up),
    largest contribution first, ties by name."""
    if len(values) != len(FEATURES) or len(weights) != len(FEATURES):
        msg = f"expected {len(FEATURES)} features and weights"
        raise ValueError(msg)
    floor = math.floor  # rounding to 4 decimals this way is 4x cheaper than round(x, 4)
    factors = [
        _new_tuple(
            Factor,
            (
                FEATURES[i],
                floor(values[i] * 1e4 + 0.5) / 1e4,
                floor(weights[i] * values[i] * 1e4 + 0.5) / 1e4,
            ),
        )
        for i in _BY_NAME
    ]
    factors.sort(key=_CONTRIBUTION, reverse=True)  # stable, also when reversed
    return factors


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def _clip(x: float, bound: float = 3.0) -> float:
    return max(-bound, min(bound, x))


def _decay(at_ms: int, now_ms: int, tau_ms: float) -> float:
    return math.exp(-(now_ms - at_ms) / tau_ms) if now_ms > at_ms else 1.0


class _Customer:
    __slots__ = ("addresses", "amount_n", "amount_sum", "expected", "orders", "outcomes", "seen_ms")

    def __init__(self, seen_ms: int) -> None:
        self.seen_ms = seen_ms
        self.orders = 0
        #: Outcomes expected of the delivered orders from their SKUs and cells alone.
        self.expected = 0.0
        self.outcomes = 0
        self.amount_sum = 0.0
        self.amount_n = 0
        self.addresses: tuple[str, ...] = ()

    def to_list(self) -> list[Any]:
        return [
            self.seen_ms,
            self.orders,
            self.expected,
            self.outcomes,
            self.amount_sum,
            self.amount_n,
            list(self.addresses),
        ]

    @classmethod
    def from_list(cls, item: list[Any]) -> _Customer:
        c = cls(int(item[0]))
        c.orders, c.expected, c.outcomes = int(item[1]), float(item[2]), int(item[3])
        c.amount_sum, c.amount_n, c.addresses = float(item[4]), int(item[5]), tuple(item[6])
        return c


class _Sku:
    """Long-run counts, amounts and a decayed (recent) return rate of one SKU."""

    __slots__ = (
        "amount_n",
        "amount_sum",
        "delivered",
        "recent_at",
        "recent_del",
        "recent_ret",
        "returns",
        "seen_ms",
    )

    def __init__(self, seen_ms: int) -> None:
        self.seen_ms = seen_ms
        self.delivered = 0.0
        self.returns = 0.0
        self.amount_sum = 0.0
        self.amount_n = 0
        self.recent_del = 0.0
        self.recent_ret = 0.0
        self.recent_at = seen_ms

    def decay_to(self, now_ms: int, tau_ms: float) -> None:
        f = _decay(self.recent_at, now_ms, tau_ms)
        self.recent_del *= f
        self.recent_ret *= f
        self.recent_at = max(self.recent_at, now_ms)

    def to_list(self) -> list[Any]:
        return [
            self.seen_ms,
            self.delivered,
            self.returns,
            self.amount_sum,
            self.amount_n,
            self.recent_del,
            self.recent_ret,
            self.recent_at,
        ]

    @classmethod
    def from_list(cls, item: list[Any]) -> _Sku:
        s = cls(int(item[0]))
        s.delivered, s.returns, s.amount_sum = float(item[1]), float(item[2]), float(item[3])
        s.amount_n, s.recent_del, s.recent_ret = int(item[4]), float(item[5]), float(item[6])
        s.recent_at = int(item[7])
        return s


class _Cell:
    """Decayed complaints per delivery and transit hours of one region x carrier."""

    __slots__ = ("at_ms", "complaints", "delivered", "transit_h", "transit_n")

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms
        self.complaints = 0.0
        self.delivered = 0.0
        self.transit_h = 0.0
        self.transit_n = 0.0

    def decay_to(self, now_ms: int, tau_ms: float) -> None:
        f = _decay(self.at_ms, now_ms, tau_ms)
        self.complaints *= f
        self.delivered *= f
        self.transit_h *= f
        self.transit_n *= f
        self.at_ms = max(self.at_ms, now_ms)

    def to_list(self) -> list[Any]:
        return [self.at_ms, self.complaints, self.delivered, self.transit_h, self.transit_n]

    @classmethod
    def from_list(cls, item: list[Any]) -> _Cell:
        c = cls(int(item[0]))
        c.complaints, c.delivered = float(item[1]), float(item[2])
        c.transit_h, c.transit_n = float(item[3]), float(item[4])
        return c


class _Order:
    __slots__ = (
        "customer_id",
        "delivered_ms",
        "expires_ms",
        "features",
        "labelled",
        "shipped_ms",
        "sku",
    )

    def __init__(self, customer_id: str | None, sku: str | None, expires_ms: int) -> None:
        self.customer_id = customer_id
        self.sku = sku
        self.shipped_ms: int | None = None
        self.delivered_ms: int | None = None
        self.expires_ms = expires_ms
        self.labelled = False
        #: Feature vectors scored so far, float32 bytes, in stage order.
        self.features: list[bytes] = []

    def to_list(self) -> list[Any]:
        return [
            self.customer_id,
            self.sku,
            self.shipped_ms,
            self.delivered_ms,
            self.expires_ms,
            self.labelled,
            [f.hex() for f in self.features],
        ]

    @classmethod
    def from_list(cls, item: list[Any]) -> _Order:
        o = cls(item[0], item[1], int(item[4]))
        o.shipped_ms, o.delivered_ms, o.labelled = item[2], item[3], bool(item[5])
        o.features = [bytes.fromhex(f) for f in item[6]]
        return o


class RiskScorer:
    """Scores orders at placed, shipped and delivered; learns from later outcomes.

    Parameters
    ----------
    label_delay_ms
        How long after delivery an order is learned from (14 days): positive if a
        return/exchange request or complaint came by then, else negative.
    customer_idle_ms
        A customer's history is dropped after this long without an event (180 days).
    address_idle_ms, open_ms
        Addresses' idle time (60 days); how long an undelivered order is kept (60 days).
    cell_tau_ms, surge_tau_ms
        Decay time constants of the cells' current rates (3 days) and of a SKU's recent
        return rate (2 days).
    history_prior
        Pseudo-outcomes (observed and expected alike) that shrink a customer's history
        ratio towards 1 (1.0: about six orders at a 16 % base rate).
    eta
        The models' AdaGrad step (0.1).

    Examples
    --------
    >>> scorer = RiskScorer()
    >>> rec = scorer.apply(
    ...     RiskFact(
    ...         0,
    ...         "O-1:placed",
    ...         "placed",
    ...         "O-1",
    ...         "C-1",
    ...         "S-1",
    ...         "apparel",
    ...         "north",
    ...         "dhl",
    ...         "A-1",
    ...         40.0,
    ...         1,
    ...     )
    ... )
    >>> rec.stage, 0.0 <= rec.score <= 1.0, len(rec.factors)
    ('placed', True, 13)
    """

    def __init__(
        self,
        *,
        label_delay_ms: int = 14 * _DAY_MS,
        customer_idle_ms: int = 180 * _DAY_MS,
        address_idle_ms: int = 60 * _DAY_MS,
        open_ms: int = 60 * _DAY_MS,
        cell_tau_ms: float = 3 * _DAY_MS,
        surge_tau_ms: float = 2 * _DAY_MS,
        history_prior: float = 1.0,
        eta: float = 0.1,
    ) -> None:
        self.label_delay_ms = label_delay_ms
        self.customer_idle_ms = customer_idle_ms
        self.address_idle_ms = address_idle_ms
        self.open_ms = open_ms
        self.cell_tau_ms = cell_tau_ms
        self.surge_tau_ms = surge_tau_ms
        self.history_prior = history_prior
        self.models = {stage: OnlineLogit(FEATURES, eta=eta) for stage in STAGES}
        self.customers: dict[str, _Customer] = {}
        self.addresses: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.skus: dict[str, _Sku] = {}
        self.categories: dict[str, list[float]] = {}  # [delivered, returns]
        self.cells: dict[str, _Cell] = {}
        self.orders: dict[str, _Order] = {}
        self._expiries: list[tuple[int, str]] = []  # a heap
        #: Population totals: delivered, returns, orders with an outcome, complaints.
        self.totals = [0.0, 0.0, 0.0, 0.0]
        self.global_cell = _Cell(0)
        self.now_ms = -(1 << 62)
        self._base_rate = 0.0
        self._swept_ms = -(1 << 62)
        self.evicted = 0
        self.skipped = 0

    # -- the step ------------------------------------------------------------------------

    def apply(self, fact: RiskFact) -> RiskRecord | None:
        """Apply one fact (in the shard's order); return the record of a scored stage."""
        if fact.order_id is None:
            self.skipped += 1
            return None
        if fact.ts_ms > self.now_ms:
            self.now_ms = fact.ts_ms
            self._expire(fact.ts_ms)
            if fact.ts_ms - self._swept_ms >= _DAY_MS:
                self._sweep(fact.ts_ms)
        kind = fact.kind
        if kind in ("placed", "shipped", "delivered"):
            return self._stage(fact, kind)  # type: ignore[arg-type]
        if kind == "cancelled":
            self.orders.pop(fact.order_id, None)
        else:
            self._outcome(fact)
        return None

    def _stage(self, fact: RiskFact, stage: Stage) -> RiskRecord:
        order = self.orders.get(fact.order_id or "")
        if order is None:
            order = _Order(fact.customer_id, fact.sku, fact.ts_ms + self.open_ms)
            self.orders[fact.order_id or ""] = order
            heapq.heappush(self._expiries, (order.expires_ms, fact.order_id or ""))
        if stage == "shipped":
            order.shipped_ms = fact.ts_ms
        transit_h = None
        if stage == "delivered" and order.shipped_ms is not None:
            transit_h = (fact.ts_ms - order.shipped_ms) / _HOUR_MS
        x = self._features(fact, transit_h)
        model = self.models[stage]
        z = model.logit(x)
        score = round(1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0, 4)
        factors = _factors(x, model.weights)
        stored = array("f", x).tobytes()
        if len(order.features) < 3:
            order.features.append(stored)
        self._learn_stage(fact, stage, order, transit_h)
        return RiskRecord(
            fact.order_id or "",
            fact.ts_ms,
            stage,
            score,
            tuple(factors),
            fact.customer_id,
            fact.sku,
            fact.category,
            fact.region,
            fact.carrier,
        )

    # -- features ------------------------------------------------------------------------

    def _features(self, fact: RiskFact, transit_h: float | None) -> list[float]:
        delivered, returns, _, complaints = self.totals
        g_ret = (returns + 2 * 0.1) / (delivered + 2)
        g_c = (complaints + 2 * 0.03) / (delivered + 2)
        cat = self.categories.get(fact.category or "")
        cat_rate = g_ret if cat is None else (cat[1] + 20 * g_ret) / (cat[0] + 20)
        sku = self.skus.get(fact.sku or "")
        sku_rate = cat_rate if sku is None else (sku.returns + 20 * cat_rate) / (sku.delivered + 20)
        surge = 0.0
        amount_vs_sku = 0.0
        if sku is not None:
            sku.decay_to(fact.ts_ms, self.surge_tau_ms)
            recent = (sku.recent_ret + 10 * sku_rate) / (sku.recent_del + 10)
            surge = _logit(recent) - _logit(sku_rate)
            if fact.amount and sku.amount_n and sku.amount_sum > 0:
                amount_vs_sku = _clip(math.log(fact.amount * sku.amount_n / sku.amount_sum))
        cust = self.customers.get(fact.customer_id or "") if fact.customer_id else None
        if cust is None:
            cust_hist, new, amount_vs_cust, n_addresses = 0.0, 1.0, 0.0, 0
        else:
            prior = self.history_prior
            cust_hist = math.log((cust.outcomes + prior) / (cust.expected + prior))
            new = 1.0 if cust.orders == 0 else 0.0
            amount_vs_cust = 0.0
            if fact.amount and cust.amount_n and cust.amount_sum > 0:
                amount_vs_cust = _clip(math.log(fact.amount * cust.amount_n / cust.amount_sum))
            n_addresses = len(cust.addresses)
        cell = self.cells.get(f"{fact.region},{fact.carrier}")
        cell_rate, transit, late = 0.0, 0.0, 0.0
        cell_c = g_c
        glob = self.global_cell
        glob.decay_to(fact.ts_ms, self.cell_tau_ms)
        g_transit = (glob.transit_h + 5 * 48.0) / (glob.transit_n + 5)
        if cell is not None:
            cell.decay_to(fact.ts_ms, self.cell_tau_ms)
            cell_c = (cell.complaints + 50 * g_c) / (cell.delivered + 50)
            cell_rate = _logit(cell_c) - _logit(g_c)
            if transit_h is not None:
                norm = (cell.transit_h + 5 * g_transit) / (cell.transit_n + 5)
                transit = _clip(math.log(max(transit_h, 1.0) / norm))
                late = _clip(max(0.0, (transit_h - norm) / 24.0), 10.0)
        #: The order's outcome chance from its SKU and cell alone (a customer's "expected").
        self._base_rate = min(0.95, sku_rate + cell_c)
        address = self.addresses.get(fact.address_id or "") if fact.address_id else None
        shared = math.log(len(address[1])) if address is not None and address[1] else 0.0
        quantity = math.log(fact.quantity) if fact.quantity and fact.quantity > 0 else 0.0
        return [
            _logit(sku_rate) - _logit(cat_rate),
            _logit(cat_rate) - _logit(g_ret),
            surge,
            cust_hist,
            new,
            amount_vs_cust,
            amount_vs_sku,
            quantity,
            cell_rate,
            transit,
            late,
            shared,
            math.log(n_addresses) if n_addresses else 0.0,
        ]

    # -- learning from the stream --------------------------------------------------------

    def _learn_stage(
        self, fact: RiskFact, stage: Stage, order: _Order, transit_h: float | None
    ) -> None:
        """Update the history with a scored event (after its score)."""
        if stage == "placed":
            self._customer_placed(fact)
            return
        if stage != "delivered":
            return
        order.delivered_ms = fact.ts_ms
        order.expires_ms = fact.ts_ms + self.label_delay_ms
        heapq.heappush(self._expiries, (order.expires_ms, fact.order_id or ""))
        self.totals[0] += 1
        cat = self.categories.setdefault(fact.category or "", [0.0, 0.0])
        cat[0] += 1
        if fact.sku is not None:
            sku = self._sku(fact)
            sku.delivered += 1
            sku.recent_del += 1
        cust = self.customers.get(fact.customer_id or "") if fact.customer_id else None
        if cust is not None:
            cust.expected += self._base_rate
            cust.seen_ms = fact.ts_ms
        cell = self._cell(fact)
        cell.delivered += 1
        if transit_h is not None:
            cell.transit_h += transit_h
            cell.transit_n += 1
            self.global_cell.transit_h += transit_h
            self.global_cell.transit_n += 1

    def _customer_placed(self, fact: RiskFact) -> None:
        if fact.customer_id is None:
            return
        cust = self.customers.get(fact.customer_id)
        if cust is None:
            cust = self.customers[fact.customer_id] = _Customer(fact.ts_ms)
        cust.seen_ms = fact.ts_ms
        cust.orders += 1
        if fact.amount:
            cust.amount_sum += fact.amount
            cust.amount_n += 1
        if fact.sku is not None and fact.amount:
            sku = self._sku(fact)
            sku.amount_sum += fact.amount
            sku.amount_n += 1
        address = fact.address_id
        if address is not None:
            if address not in cust.addresses and len(cust.addresses) < _MAX_ADDRESSES:
                cust.addresses = (*cust.addresses, address)
            _, seen = self.addresses.get(address, (0, ()))
            if fact.customer_id not in seen and len(seen) < _MAX_CUSTOMERS_AT_ADDRESS:
                seen = (*seen, fact.customer_id)
            self.addresses[address] = (fact.ts_ms, seen)

    def _outcome(self, fact: RiskFact) -> None:
        """A return/exchange request or a complaint: label the order, count it."""
        is_return = fact.kind != "complaint"
        order = self.orders.get(fact.order_id or "")
        first = order is None or not order.labelled
        if is_return:
            cat = self.categories.get(fact.category or "")
            if cat is not None:
                cat[1] += 1
            sku = self.skus.get(fact.sku or "")
            if sku is not None:
                sku.decay_to(fact.ts_ms, self.surge_tau_ms)
                sku.returns += 1
                sku.recent_ret += 1
            self.totals[1] += 1
        else:
            self.totals[3] += 1
            cell = self._cell(fact)
            cell.complaints += 1
            self.global_cell.complaints += 1
        if not first:
            return
        self.totals[2] += 1
        cust = self.customers.get(fact.customer_id or "") if fact.customer_id else None
        if cust is not None:
            cust.outcomes += 1
            cust.seen_ms = fact.ts_ms
        if order is not None:
            order.labelled = True

    def _train(self, order: _Order, label: int) -> None:
        for stage, raw in zip(STAGES, order.features, strict=False):
            self.models[stage].update(array("f", raw).tolist(), label)

    def _expire(self, now_ms: int) -> None:
        """Learn from every delivered order whose label delay passed (positive if an
        outcome came); drop orders past their time (undelivered ones unlearned)."""
        expiries = self._expiries
        while expiries and expiries[0][0] <= now_ms:
            expires_ms, order_id = heapq.heappop(expiries)
            order = self.orders.get(order_id)
            if order is None or order.expires_ms != expires_ms:
                continue
            if order.delivered_ms is not None:
                self._train(order, 1 if order.labelled else 0)
            del self.orders[order_id]

    def _sweep(self, now_ms: int) -> None:
        """Evict idle customers and addresses (once per event-time day)."""
        self._swept_ms = now_ms
        cutoff = now_ms - self.customer_idle_ms
        idle = [cid for cid, c in self.customers.items() if c.seen_ms < cutoff]
        for cid in idle:
            del self.customers[cid]
        self.evicted += len(idle)
        cutoff = now_ms - self.address_idle_ms
        for address in [a for a, (seen, _) in self.addresses.items() if seen < cutoff]:
            del self.addresses[address]

    def _sku(self, fact: RiskFact) -> _Sku:
        sku = self.skus.get(fact.sku or "")
        if sku is None:
            sku = self.skus[fact.sku or ""] = _Sku(fact.ts_ms)
        sku.seen_ms = fact.ts_ms
        sku.decay_to(fact.ts_ms, self.surge_tau_ms)
        return sku

    def _cell(self, fact: RiskFact) -> _Cell:
        key = f"{fact.region},{fact.carrier}"
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = _Cell(fact.ts_ms)
        cell.decay_to(fact.ts_ms, self.cell_tau_ms)
        self.global_cell.decay_to(fact.ts_ms, self.cell_tau_ms)
        return cell

    # -- snapshots -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything the scorer decides from, JSON-able (see :meth:`load`)."""
        return {
            "models": {stage: m.to_dict() for stage, m in self.models.items()},
            "customers": {k: c.to_list() for k, c in self.customers.items()},
            "addresses": {k: [seen, list(ids)] for k, (seen, ids) in self.addresses.items()},
            "skus": {k: s.to_list() for k, s in self.skus.items()},
            "categories": self.categories,
            "cells": {k: c.to_list() for k, c in self.cells.items()},
            "global_cell": self.global_cell.to_list(),
            "orders": {k: o.to_list() for k, o in self.orders.items()},
            "expiries": self._expiries,
            "totals": self.totals,
            "now": self.now_ms,
            "swept": self._swept_ms,
            "evicted": self.evicted,
            "skipped": self.skipped,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore :meth:`to_dict`: the scorer continues exactly where it was."""
        for stage, model in data["models"].items():
            self.models[stage].load(model)
        self.customers = {k: _Customer.from_list(v) for k, v in data["customers"].items()}
        self.addresses = {k: (int(v[0]), tuple(v[1])) for k, v in data["addresses"].items()}
        self.skus = {k: _Sku.from_list(v) for k, v in data["skus"].items()}
        self.categories = {k: [float(v[0]), float(v[1])] for k, v in data["categories"].items()}
        self.cells = {k: _Cell.from_list(v) for k, v in data["cells"].items()}
        self.global_cell = _Cell.from_list(data["global_cell"])
        self.orders = {k: _Order.from_list(v) for k, v in data["orders"].items()}
        self._expiries = [(int(t), str(o)) for t, o in data["expiries"]]
        heapq.heapify(self._expiries)
        self.totals = [float(v) for v in data["totals"]]
        self.now_ms, self._swept_ms = int(data["now"]), int(data["swept"])
        self.evicted, self.skipped = int(data["evicted"]), int(data["skipped"])
