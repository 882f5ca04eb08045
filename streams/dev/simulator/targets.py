"""Default targets of incidents: a ``None`` SKU, queue, channel, carrier, supplier or
customer filled from the configuration and the catalogue before a run.

Separate from :mod:`streams.dev.simulator.incidents` (what an incident is) because it
needs the catalogue, which is built from the configuration, which holds incidents.
"""

from __future__ import annotations

import dataclasses

from streams.dev.simulator.catalog import Catalog
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.ids import address_id, customer_id
from streams.dev.simulator.incidents import (
    BadReviewWave,
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
)

__all__ = ["resolve_incidents"]


def resolve_incidents(
    incidents: tuple[Incident, ...], config: SimulationConfig, catalog: Catalog
) -> tuple[Incident, ...]:
    """Fill ``None`` targets with defaults drawn from the configuration and catalogue."""
    fashion = max(range(len(config.categories)), key=lambda c: config.categories[c].return_rate)
    biggest_region = max(config.regions, key=lambda r: r.weight)
    out: list[Incident] = []
    for i, inc in enumerate(incidents):
        new: Incident = inc
        if isinstance(inc, SkuReturnSpike) and inc.sku is None:
            new = dataclasses.replace(inc, sku=catalog.skus[catalog.typical_returner(fashion)])
        elif isinstance(inc, WrongPrice) and inc.sku is None:
            new = dataclasses.replace(inc, sku=catalog.skus[catalog.by_rank(2)])
        elif isinstance(inc, CarrierDamage) and (inc.region is None or inc.carrier is None):
            wanted = inc.region or biggest_region.name
            region = next(r for r in config.regions if r.name == wanted)
            carrier = inc.carrier or max(region.carriers, key=lambda c: c[1])[0]
            new = dataclasses.replace(inc, region=region.name, carrier=carrier)
        elif isinstance(inc, DeliveryDelay | LostParcels) and (
            inc.region is None or inc.carrier is None
        ):
            # The second region by weight: apart from carrier_damage's default cell.
            ranked = sorted(config.regions, key=lambda r: -r.weight)
            fallback = ranked[min(1, len(ranked) - 1)]
            wanted = inc.region or fallback.name
            region = next(r for r in config.regions if r.name == wanted)
            carrier = inc.carrier or max(region.carriers, key=lambda c: c[1])[0]
            if isinstance(inc, LostParcels) and inc.region is None and inc.carrier is not None:
                new = inc
            else:
                new = dataclasses.replace(inc, region=region.name, carrier=carrier)
        elif isinstance(inc, RefundDelay) and inc.category is None and inc.channel is None:
            new = dataclasses.replace(inc, category=config.categories[0].name)
        elif isinstance(inc, HandleTimeSurge | SatisfactionDrop) and inc.queue is None:
            names = [q for q, _ in config.queues]
            new = dataclasses.replace(inc, queue="returns" if "returns" in names else names[0])
        elif isinstance(inc, BadReviewWave) and inc.sku is None:
            new = dataclasses.replace(inc, sku=catalog.skus[catalog.by_rank(0)])
        elif isinstance(inc, WaitTimeSurge) and inc.queue is None:
            names = [q for q, _ in config.queues]
            new = dataclasses.replace(inc, queue="delivery" if "delivery" in names else names[0])
        elif isinstance(inc, OrderDrop) and inc.channel is None and inc.region is None:
            names = [c for c, _ in config.channels]
            new = dataclasses.replace(inc, channel=names[min(1, len(names) - 1)])
        elif isinstance(inc, ComplaintSpike) and inc.reason is None:
            new = dataclasses.replace(inc, reason="wrong_item")
        elif isinstance(inc, SupplierQuality):
            if not 0 < inc.magnitude < 1:
                _fail(
                    f"incidents[{i}](supplier_quality).magnitude",
                    "must be a probability in (0, 1)",
                    inc.magnitude,
                )
            categories = tuple(c.name for c in config.categories)
            supplier = inc.supplier or catalog.supplier_of(catalog.by_rank(0), categories)
            try:
                catalog.supplier_skus(supplier, categories)
            except ValueError:
                _fail(
                    f"incidents[{i}](supplier_quality).supplier",
                    "must be an existing supplier id (SUP-<category>-01..)",
                    supplier,
                )
            new = dataclasses.replace(inc, supplier=supplier)
        elif isinstance(inc, CustomerBurst) and (inc.customer_id is None or inc.address_id is None):
            index = (config.seed * 7919 + 104_729 * (i + 1)) % config.n_customers
            new = dataclasses.replace(
                inc,
                customer_id=inc.customer_id or customer_id(index),
                address_id=inc.address_id or address_id(index),
            )
        out.append(new)
    return tuple(out)


def _fail(name: str, rule: str, value: object) -> None:
    msg = f"{name}: {rule}, got {value!r}"
    raise ValueError(msg)
