"""Ground-truth labels: which alerts each injected incident should raise, and when.

Label window (``start``/``end``) is when the incident's metric moves in event time, not
the cause window (``cause_start``/``cause_end``); see
:func:`streams.dev.simulator.incidents.label_window_ms` for how each type maps. ``expected``
lists the alerts a correct engine raises (contract rule and dimension names; multi-field
keys comma-joined in dimension order). An incident counts as detected when any expected
target fires inside the label window. ``related`` lists targets that legitimately move as a
side effect (an alert there is not a false positive, but is not required); a ``key`` of
``"*"`` there means any key of that dimension.

Example entry::

    {
        "id": "incident-1",
        "type": "sku_return_spike",
        "start": "2026-11-10T10:00:00.000Z",
        "end": "2026-11-16T10:00:00.000Z",
        "cause_start": "2026-11-09T10:00:00.000Z",
        "cause_end": "2026-11-12T10:00:00.000Z",
        "magnitude": 3.0,
        "targets": {"sku": "SKU-00042", "reason": "wrong_size"},
        "expected": [
            {"rule": "return_rate", "dimension": "sku", "key": "SKU-00042", "direction": "up"}
        ],
        "related": [
            {"rule": "return_rate", "dimension": "category", "key": "apparel", "direction": "up"}
        ],
    }
"""

from __future__ import annotations

from typing import Any

from streams.dev.simulator.generator import Simulation
from streams.dev.simulator.incidents import (
    BadReviewWave,
    CancellationSpike,
    CarrierDamage,
    ComplaintSpike,
    CustomerBurst,
    DeliveryDelay,
    HandleTimeSurge,
    Incident,
    LostParcels,
    OrderDrop,
    RefundDelay,
    SatisfactionDrop,
    SkuReturnSpike,
    SupplierQuality,
    WaitTimeSurge,
    WrongPrice,
    label_window_ms,
    window_ms,
)
from streams.dev.simulator.timefmt import format_ts
from streams.pipeline.aggregate import TOTAL_KEY

SCHEMA = "aftersales.labels/v1"

Target = dict[str, str]


def _t(rule: str, dimension: str, key: str, direction: str = "up") -> Target:
    return {"rule": rule, "dimension": dimension, "key": key, "direction": direction}


def build_labels(sim: Simulation) -> dict[str, Any]:
    """The labels document of a simulation; call after a full pass over ``sim.events()``.

    Incidents whose cause window lies wholly outside the emitted range are left out.
    Planned promotions, if configured, are listed under ``promotions`` (nuisances that
    should raise no alert).
    """
    cfg = sim.config
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "seed": cfg.seed,
        "start": format_ts(cfg.start_ms),
        "end": format_ts(cfg.end_ms),
        "orders_per_day": cfg.orders_per_day,
        "incidents": [
            incident_label(sim, i, inc)
            for i, inc in enumerate(sim.incidents)
            if window_ms(inc)[0] < cfg.end_ms and window_ms(inc)[1] > cfg.start_ms
        ],
    }
    if cfg.promotions:
        doc["promotions"] = [
            {"start": format_ts(p.start_ms), "end": format_ts(p.end_ms), "peak": p.peak}
            for p in cfg.promotions
        ]
    return doc


def incident_label(sim: Simulation, index: int, inc: Incident) -> dict[str, Any]:
    """One incident's label entry."""
    cause_start, cause_end = window_ms(inc)
    start, end = label_window_ms(inc)
    targets, expected, related = _signature(sim, index, inc)
    entry: dict[str, Any] = {
        "id": f"incident-{index + 1}",
        "type": inc.type,
        "start": format_ts(start),
        "end": format_ts(end),
        "cause_start": format_ts(cause_start),
        "cause_end": format_ts(cause_end),
        "magnitude": inc.magnitude,
        "targets": targets,
        "expected": expected,
        "related": related,
    }
    if index in sim.affected_orders:
        entry["order_ids"] = list(sim.affected_orders[index])
    first_extra = sim.orders.first_extra_return.get(index)
    if isinstance(inc, SkuReturnSpike) and first_extra is not None:
        entry["first_extra_return"] = format_ts(first_extra)
    return entry


def _signature(
    sim: Simulation, index: int, inc: Incident
) -> tuple[dict[str, Any], list[Target], list[Target]]:
    if isinstance(inc, SkuReturnSpike):
        sku = inc.sku or ""
        category = sim.orders.category_names[int(sim.catalog.category[sim.catalog.index_of(sku)])]
        return (
            {"sku": sku, "reason": inc.reason},
            [_t("return_rate", "sku", sku)],
            [_t("return_rate", "category", category)],
        )
    if isinstance(inc, CarrierDamage):
        region, carrier = inc.region or "", inc.carrier or ""
        pair = f"{region},{carrier}"
        return (
            {"region": region, "carrier": carrier},
            [
                _t("return_rate", "region,carrier", pair),
                _t("return_rate", "region,carrier,reason", f"{pair},damaged"),
                _t("complaint_rate", "region,carrier", pair),
                _t("complaint_rate", "carrier", carrier),
            ],
            [
                _t("return_rate", "region", region),
                _t("return_rate", "carrier", carrier),
                _t("complaint_rate", "region", region),
                _t("complaint_volume", "reason", "damaged"),
                _t("complaint_volume", "total", TOTAL_KEY),
                *_category_reasons(sim, "damaged"),
            ],
        )
    if isinstance(inc, WaitTimeSurge):
        queue = inc.queue or ""
        return (
            {"queue": queue},
            [_t("wait_time_p90", "queue", queue), _t("wait_sla_breach_share", "queue", queue)],
            [],
        )
    if isinstance(inc, OrderDrop):
        dimension = "channel" if inc.channel is not None else "region"
        key = inc.channel if inc.channel is not None else inc.region or ""
        return (
            {dimension: key},
            [_t("order_volume", dimension, key, "down")],
            [_t("order_volume", "total", TOTAL_KEY, "down")],
        )
    if isinstance(inc, CustomerBurst):
        customer, address = inc.customer_id or "", inc.address_id or ""
        if inc.distinct_customers:
            # Distinct customers to one address: shared_address may fire too (related).
            return (
                {"address_id": address},
                [_t("customer_order_burst", "address", address)],
                [_t("shared_address", "address", address)],
            )
        return (
            {"customer_id": customer, "address_id": address},
            [
                _t("customer_order_burst", "customer", customer),
                _t("customer_order_burst", "address", address),
            ],
            [],
        )
    if isinstance(inc, WrongPrice):
        direction = "down" if inc.magnitude < 1 else "up"
        return (
            {"sku": inc.sku or ""},
            [_t("order_outlier", "sku", inc.sku or "", direction)]
            + [
                _t("order_outlier", "order", oid, direction)
                for oid in sim.affected_orders.get(index, [])
            ],
            [],
        )
    if isinstance(inc, HandleTimeSurge):
        return ({"queue": inc.queue or ""}, [_t("handle_time_p90", "queue", inc.queue or "")], [])
    if isinstance(inc, SatisfactionDrop):
        return (
            {"queue": inc.queue or ""},
            [_t("low_satisfaction_share", "queue", inc.queue or "")],
            [],
        )
    if isinstance(inc, BadReviewWave):
        sku = inc.sku or ""
        category = sim.orders.category_names[int(sim.catalog.category[sim.catalog.index_of(sku)])]
        return (
            {"sku": sku},
            [_t("bad_review_rate", "sku", sku)],
            [_t("bad_review_rate", "category", category)],
        )
    if isinstance(inc, CancellationSpike):
        expected = [_t("cancellation_rate", "reason", inc.reason)]
        related = [
            _t("cancellation_rate", "category", "*"),
            _t("cancellation_rate", "channel", "*"),
        ]
        if inc.channel is not None:
            expected.append(_t("cancellation_rate", "channel", inc.channel))
        return ({"reason": inc.reason, "channel": inc.channel}, expected, related)
    if isinstance(inc, ComplaintSpike):
        reason = inc.reason or ""
        return (
            {"reason": reason},
            [_t("complaint_volume", "reason", reason), *_category_reasons(sim, reason)],
            [
                _t("complaint_volume", "total", TOTAL_KEY),
                _t("complaint_rate", "category", "*"),
                _t("complaint_rate", "region", "*"),
                _t("complaint_rate", "carrier", "*"),
                _t("complaint_rate", "sku", "*"),
            ],
        )
    if isinstance(inc, SupplierQuality):
        return _supplier_signature(sim, inc)
    if isinstance(inc, DeliveryDelay):
        region, carrier = inc.region or "", inc.carrier or ""
        pair = f"{region},{carrier}"
        return (
            {"region": region, "carrier": carrier},
            [
                _t("delivery_time_p90", "region,carrier", pair),
                _t("late_delivery_share", "region,carrier", pair),
            ],
            [
                _t(rule, dimension, key)
                for rule in ("delivery_time_p90", "late_delivery_share")
                for dimension, key in (("region", region), ("carrier", carrier))
            ]
            + [
                _t("lost_parcel", "order", "*"),
                _t("lost_parcel", "carrier", carrier),
                _t("complaint_rate", "region,carrier", pair),
                _t("return_rate", "region,carrier", pair),
            ],
        )
    if isinstance(inc, LostParcels):
        carrier = inc.carrier or ""
        return (
            {"carrier": carrier, "region": inc.region},
            [_t("lost_parcel", "carrier", carrier)]
            + [_t("lost_parcel", "order", oid) for oid in sim.affected_orders.get(index, [])],
            [
                _t("complaint_rate", "carrier", carrier),
                _t("return_rate", "carrier", carrier),
                _t("complaint_rate", "region,carrier", "*"),
                _t("return_rate", "region,carrier", "*"),
            ],
        )
    if isinstance(inc, RefundDelay):
        dimension = "category" if inc.category is not None else "channel"
        key = inc.category if inc.category is not None else inc.channel or ""
        return (
            {dimension: key},
            [_t("refund_delay_p90", dimension, key)],
            [_t("refund_delay_p90", "channel" if dimension == "category" else "category", "*")],
        )
    msg = f"unknown incident type {type(inc).__name__}"
    raise TypeError(msg)


def _category_reasons(sim: Simulation, reason: str) -> list[Target]:
    """``complaint_rate`` of ``reason`` in every category: a shop-wide rise of one
    complaint reason lifts each category's share of it."""
    return [
        _t("complaint_rate", "category,reason", f"{category},{reason}")
        for category in sim.orders.category_names
    ]


def _supplier_signature(
    sim: Simulation, inc: SupplierQuality
) -> tuple[dict[str, Any], list[Target], list[Target]]:
    """A supplier's SKUs, its category's complaint rate, and quality complaints overall."""
    names = sim.orders.category_names
    supplier = inc.supplier or ""
    indices = sim.catalog.supplier_skus(supplier, names).tolist()
    category = names[int(sim.catalog.category[indices[0]])]
    skus = [sim.catalog.skus[i] for i in indices]
    expected = [
        _t("complaint_rate", "category", category),
        _t("complaint_rate", "category,reason", f"{category},quality"),
        _t("complaint_volume", "reason", "quality"),
    ]
    expected += [_t("complaint_rate", "sku", sku) for sku in skus]
    return (
        {"supplier": supplier, "category": category, "skus": skus},
        expected,
        [
            _t("complaint_volume", "total", TOTAL_KEY),
            _t("complaint_rate", "region", "*"),
            _t("complaint_rate", "carrier", "*"),
            _t("complaint_rate", "region,carrier", "*"),
        ],
    )
