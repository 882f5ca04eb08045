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
  beta-binomial counts) and, per SKU, the same with a two-day decay (a live surge);
  SKUs are evicted after ``sku_idle_ms`` (180 days) without an event.
* **cells** (region x carrier): complaints per delivered order and transit hours,
  decayed with a three-day time constant (the cell's *current* condition).
* **open orders**: what is needed to label them later (the three stages' feature
  vectors as float32, packed in one ``bytes`` with the order's times), dropped
  ``label_delay_ms`` (14 days) after delivery, once learned from, or by the daily sweep
  ``open_ms`` (60 days) after being placed if never delivered; cancelled orders at once.

Each of these holds at most ``max_keys`` entries: a key flood (a bot's 200,000 new
customers) evicts the least valuable (keys seen once, oldest first), counted in
:attr:`RiskScorer.evicted`, instead of growing without bound.

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
import itertools
import math
import operator
from array import array
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from streams.risk.customers import (
    CUSTOMER_HEAD,
    address_customers,
    address_from_list,
    address_last_seen,
    address_to_list,
    address_used,
    address_worth,
    customer_delivered,
    customer_from_list,
    customer_last_seen,
    customer_outcome,
    customer_placed,
    customer_to_list,
    customer_worth,
)
from streams.risk.facts import RiskFact
from streams.risk.model import OnlineLogit
from streams.risk.record import Factor, RiskRecord, Stage
from streams.risk.state import (
    Cell,
    Sku,
    drop_idle,
    is_labelled,
    labelled,
    lapsed_undelivered,
    order_from_list,
    order_to_list,
    pack_order,
    unpack_order,
)

__all__ = ["EVICTION_RULE", "FEATURES", "RiskScorer"]

#: The ``rule`` label of the scorer's evictions in ``aftersales_series_evicted_total``.
EVICTION_RULE: Final = "risk_score"

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
#: One scored stage of an open order: its index in :data:`STAGES`, then its vector.
_RECORD_BYTES: Final = 1 + 4 * len(FEATURES)
_STAGE_TAG: Final = {stage: bytes((i,)) for i, stage in enumerate(STAGES)}


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


class RiskScorer:
    """Scores orders at placed, shipped and delivered; learns from later outcomes.

    Parameters
    ----------
    label_delay_ms
        How long after delivery an order is learned from (14 days): positive if a
        return/exchange request or complaint came by then, else negative.
    customer_idle_ms
        A customer's history is dropped after this long without an event (180 days).
    address_idle_ms, sku_idle_ms, open_ms
        Addresses' and SKUs' idle time (60 and 180 days); how long an undelivered order
        is kept (60 days; dropped by the daily sweep after that).
    max_keys
        Most customers, addresses, SKUs, categories, cells and open orders each (500,000):
        beyond it the least valuable are evicted (:meth:`_evict_over_cap`), so a flood of
        new keys costs bounded memory.
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
        sku_idle_ms: int = 180 * _DAY_MS,
        open_ms: int = 60 * _DAY_MS,
        max_keys: int = 500_000,
        cell_tau_ms: float = 3 * _DAY_MS,
        surge_tau_ms: float = 2 * _DAY_MS,
        history_prior: float = 1.0,
        eta: float = 0.1,
    ) -> None:
        self.label_delay_ms = label_delay_ms
        self.customer_idle_ms = customer_idle_ms
        self.address_idle_ms = address_idle_ms
        self.sku_idle_ms = sku_idle_ms
        self.open_ms = open_ms
        self.max_keys = max_keys
        #: Each eviction over the cap frees this many more keys than needed, so the next
        #: one waits for as many new keys (amortised: the victims are found by a scan).
        self._margin = max(1, max_keys // 64)
        self.cell_tau_ms = cell_tau_ms
        self.surge_tau_ms = surge_tau_ms
        self.history_prior = history_prior
        self.models = {stage: OnlineLogit(FEATURES, eta=eta) for stage in STAGES}
        #: Customers, packed (:func:`~streams.risk.customers.customer_placed`).
        self.customers: dict[str, bytes] = {}
        #: Addresses, packed (:func:`~streams.risk.customers.address_used`).
        self.addresses: dict[str, bytes] = {}
        self.skus: dict[str, Sku] = {}
        self.categories: dict[str, list[float]] = {}  # [delivered, returns]
        self.cells: dict[str, Cell] = {}
        #: Open orders, packed (:func:`pack_order`), in the order they were first seen.
        self.orders: dict[str, bytes] = {}
        #: ``(expires_ms, order_id)`` of delivered orders: when to learn from them (a heap).
        self._expiries: list[tuple[int, str]] = []
        #: Population totals: delivered, returns, orders with an outcome, complaints.
        self.totals = [0.0, 0.0, 0.0, 0.0]
        self.global_cell = Cell(0)
        self.now_ms = -(1 << 62)
        self._base_rate = 0.0
        self._swept_ms = -(1 << 62)
        #: Keys evicted by reason (``ttl``, ``cap``) since :meth:`drain_evictions`.
        self.evicted: Counter[str] = Counter()
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
        order_id = fact.order_id or ""
        raw = self.orders.get(order_id)
        if raw is None:
            shipped_ms, delivered_ms, labelled, vectors = None, None, False, b""
            expires_ms = fact.ts_ms + self.open_ms
        else:
            shipped_ms, delivered_ms, expires_ms, labelled, vectors = unpack_order(raw)
        if stage == "shipped":
            shipped_ms = fact.ts_ms
        transit_h = None
        if stage == "delivered" and shipped_ms is not None:
            transit_h = (fact.ts_ms - shipped_ms) / _HOUR_MS
        x = self._features(fact, transit_h)
        model = self.models[stage]
        z = model.logit(x)
        score = round(1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0, 4)
        factors = _factors(x, model.weights)
        tag = _STAGE_TAG[stage]
        if all(vectors[i : i + 1] != tag for i in range(0, len(vectors), _RECORD_BYTES)):
            vectors += tag + array("f", x).tobytes()  # a stage scored again keeps its first
        if stage == "delivered":
            delivered_ms = fact.ts_ms
            expires_ms = fact.ts_ms + self.label_delay_ms
            heapq.heappush(self._expiries, (expires_ms, order_id))
        self.orders[order_id] = pack_order(shipped_ms, delivered_ms, expires_ms, labelled, vectors)
        if raw is None and len(self.orders) > self.max_keys:
            self._evict_over_cap(self.orders, None)
        self._learn_stage(fact, stage, transit_h)
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
        raw = self.customers.get(fact.customer_id or "") if fact.customer_id else None
        if raw is None:
            cust_hist, new, amount_vs_cust, n_addresses = 0.0, 1.0, 0.0, 0
        else:
            _, expected, amount_sum, orders, outcomes, amount_n, n_addresses = (
                CUSTOMER_HEAD.unpack_from(raw)
            )
            prior = self.history_prior
            cust_hist = math.log((outcomes + prior) / (expected + prior))
            new = 1.0 if orders == 0 else 0.0
            amount_vs_cust = 0.0
            if fact.amount and amount_n and amount_sum > 0:
                amount_vs_cust = _clip(math.log(fact.amount * amount_n / amount_sum))
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
        at_address = 0 if address is None else address_customers(address)
        shared = math.log(at_address) if at_address else 0.0
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

    def _learn_stage(self, fact: RiskFact, stage: Stage, transit_h: float | None) -> None:
        """Update the history with a scored event (after its score)."""
        if stage == "placed":
            self._customer_placed(fact)
            return
        if stage != "delivered":
            return
        self.totals[0] += 1
        cat = self.categories.get(fact.category or "")
        if cat is None:
            cat = self.categories[fact.category or ""] = [0.0, 0.0]
            if len(self.categories) > self.max_keys:
                self._evict_over_cap(self.categories, None)
        cat[0] += 1
        if fact.sku is not None:
            sku = self._sku(fact)
            sku.delivered += 1
            sku.recent_del += 1
        customer_id = fact.customer_id
        raw = self.customers.get(customer_id) if customer_id else None
        if customer_id and raw is not None:
            self.customers[customer_id] = customer_delivered(raw, fact.ts_ms, self._base_rate)
        cell = self._cell(fact)
        cell.delivered += 1
        if transit_h is not None:
            cell.transit_h += transit_h
            cell.transit_n += 1
            self.global_cell.transit_h += transit_h
            self.global_cell.transit_n += 1

    def _customer_placed(self, fact: RiskFact) -> None:
        customer_id = fact.customer_id
        if customer_id is None:
            return
        raw = self.customers.get(customer_id)
        if fact.sku is not None and fact.amount:
            sku = self._sku(fact)
            sku.amount_sum += fact.amount
            sku.amount_n += 1
        address = fact.address_id
        if address is not None:
            raw_address = self.addresses.get(address)
            self.addresses[address] = address_used(
                raw_address, fact.ts_ms, customer_id, _MAX_CUSTOMERS_AT_ADDRESS
            )
            if raw_address is None and len(self.addresses) > self.max_keys:
                self._evict_over_cap(self.addresses, address_worth)
        self.customers[customer_id] = customer_placed(
            raw, fact.ts_ms, fact.amount, address, _MAX_ADDRESSES
        )
        if raw is None and len(self.customers) > self.max_keys:
            self._evict_over_cap(self.customers, customer_worth)

    def _outcome(self, fact: RiskFact) -> None:
        """A return/exchange request or a complaint: label the order, count it."""
        is_return = fact.kind != "complaint"
        order_id = fact.order_id or ""
        raw = self.orders.get(order_id)
        first = raw is None or not is_labelled(raw)
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
        customer_id = fact.customer_id
        raw_customer = self.customers.get(customer_id) if customer_id else None
        if customer_id and raw_customer is not None:
            self.customers[customer_id] = customer_outcome(raw_customer, fact.ts_ms)
        if raw is not None:
            self.orders[order_id] = labelled(raw)

    def _train(self, vectors: bytes, label: int) -> None:
        """Each scored stage's model learns that stage's vector."""
        for start in range(0, len(vectors), _RECORD_BYTES):
            vector = array("f", vectors[start + 1 : start + _RECORD_BYTES]).tolist()
            self.models[STAGES[vectors[start]]].update(vector, label)

    def _expire(self, now_ms: int) -> None:
        """Learn from every delivered order whose label delay passed (positive if an
        outcome came), and drop it."""
        expiries = self._expiries
        while expiries and expiries[0][0] <= now_ms:
            expires_ms, order_id = heapq.heappop(expiries)
            raw = self.orders.get(order_id)
            if raw is None:
                continue
            _, delivered_ms, current_ms, labelled, vectors = unpack_order(raw)
            if current_ms != expires_ms:
                continue  # delivered again since: a later entry holds its time
            if delivered_ms is not None:
                self._train(vectors, 1 if labelled else 0)
            del self.orders[order_id]

    def _sweep(self, now_ms: int) -> None:
        """Evict idle customers, addresses and SKUs, and drop undelivered orders past
        ``open_ms`` unlearned (once per event-time day)."""
        self._swept_ms = now_ms
        idle = drop_idle(self.customers, now_ms - self.customer_idle_ms, customer_last_seen)
        idle += drop_idle(self.addresses, now_ms - self.address_idle_ms, address_last_seen)
        idle += drop_idle(self.skus, now_ms - self.sku_idle_ms, Sku.last_seen)
        orders = self.orders
        lapsed = [key for key, raw in orders.items() if lapsed_undelivered(raw, now_ms)]
        for key in lapsed:
            del orders[key]
        idle += len(lapsed)
        if idle:
            self.evicted["ttl"] += idle

    def _evict_over_cap(self, store: dict[str, Any], worth: Callable[[Any], Any] | None) -> None:
        """Evict the least valuable entries of ``store`` down to ``max_keys`` less a margin:
        by ``worth(value)`` (lowest first; ties in the store's order), or the first
        inserted when ``worth`` is ``None``. Keys with a history of more than one event are
        worth more than new ones, so a flood of new keys evicts mostly its own."""
        excess = len(store) - self.max_keys + self._margin
        if worth is None:
            victims = list(itertools.islice(store, excess))
        else:
            victims = heapq.nsmallest(excess, store, key=lambda key: worth(store[key]))
        for key in victims:
            del store[key]
        self.evicted["cap"] += len(victims)

    def drain_evictions(self) -> Counter[str]:
        """Keys evicted by reason (``ttl``, ``cap``) since the last call."""
        evicted, self.evicted = self.evicted, Counter()
        return evicted

    def _sku(self, fact: RiskFact) -> Sku:
        sku = self.skus.get(fact.sku or "")
        if sku is None:
            sku = self.skus[fact.sku or ""] = Sku(fact.ts_ms)
            if len(self.skus) > self.max_keys:
                self._evict_over_cap(self.skus, Sku.worth)
        sku.seen_ms = fact.ts_ms
        sku.decay_to(fact.ts_ms, self.surge_tau_ms)
        return sku

    def _cell(self, fact: RiskFact) -> Cell:
        key = f"{fact.region},{fact.carrier}"
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell(fact.ts_ms)
            if len(self.cells) > self.max_keys:
                self._evict_over_cap(self.cells, Cell.last_seen)
        cell.decay_to(fact.ts_ms, self.cell_tau_ms)
        self.global_cell.decay_to(fact.ts_ms, self.cell_tau_ms)
        return cell

    # -- snapshots -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything the scorer decides from, JSON-able (see :meth:`load`)."""
        return {
            "models": {stage: m.to_dict() for stage, m in self.models.items()},
            "customers": {k: customer_to_list(c) for k, c in self.customers.items()},
            "addresses": {k: address_to_list(a) for k, a in self.addresses.items()},
            "skus": {k: s.to_list() for k, s in self.skus.items()},
            "categories": self.categories,
            "cells": {k: c.to_list() for k, c in self.cells.items()},
            "global_cell": self.global_cell.to_list(),
            "orders": {k: order_to_list(raw) for k, raw in self.orders.items()},
            "expiries": self._expiries,
            "totals": self.totals,
            "now": self.now_ms,
            "swept": self._swept_ms,
            "skipped": self.skipped,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore :meth:`to_dict`: the scorer continues exactly where it was."""
        for stage, model in data["models"].items():
            self.models[stage].load(model)
        self.customers = {k: customer_from_list(v) for k, v in data["customers"].items()}
        self.addresses = {k: address_from_list(v) for k, v in data["addresses"].items()}
        self.skus = {k: Sku.from_list(v) for k, v in data["skus"].items()}
        self.categories = {k: [float(v[0]), float(v[1])] for k, v in data["categories"].items()}
        self.cells = {k: Cell.from_list(v) for k, v in data["cells"].items()}
        self.global_cell = Cell.from_list(data["global_cell"])
        self.orders = {k: order_from_list(v) for k, v in data["orders"].items()}
        self._expiries = [(int(t), str(o)) for t, o in data["expiries"]]
        heapq.heapify(self._expiries)
        self.totals = [float(v) for v in data["totals"]]
        self.now_ms, self._swept_ms = int(data["now"]), int(data["swept"])
        self.skipped = int(data["skipped"])
