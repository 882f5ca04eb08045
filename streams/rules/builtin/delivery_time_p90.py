"""``delivery_time_p90``: the 90th percentile of transit hours (shipment to delivery),
measured from the per-order state kept in the intake (``streams.pipeline.order_state``);
its series share one closer so each key can be judged against its peers
(``relative_to = "peers"``: Monday's parcels, slipped past a Sunday, are slow with every
carrier and region)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _transit(_event: OrderEvent, _spec: RuleSpec, facts: OrderFactsView | None) -> float | None:
    """Hours in transit of a delivered order (``None``: its shipment was not seen)."""
    return None if facts is None else facts.transit_hours


TRANSIT: Final = Measure("transit", "sketch", _transit)

RULE: Final[Rule] = Rule(
    "delivery_time_p90",
    "percentile",
    ("orders",),
    ORDER_DIMENSIONS,
    ("carrier", "region", "region,carrier"),
    feeds={(OrderEvent, "delivered"): Feed(den=1.0, measure=TRANSIT)},
    order_state=True,
    colocated=True,
)
