"""``late_delivery_share``: the share of deliveries after their promised time, from the
per-order state kept in the intake (``streams.pipeline.order_state``). Its series live on one
closer (a few carriers and regions), so each key can be judged against its peers
(``relative_to = "peers"``: Monday's late parcels, slipped past a Sunday, are every key's)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _late(_event: OrderEvent, _spec: RuleSpec, facts: OrderFactsView | None) -> bool | None:
    """Delivered after the promised time (``None``: no promise seen)."""
    return None if facts is None else facts.late


LATE: Final = Measure("late", "share", _late)

RULE: Final[Rule] = Rule(
    "late_delivery_share",
    "ratio",
    ("orders",),
    ORDER_DIMENSIONS,
    ("carrier", "region", "region,carrier"),
    feeds={(OrderEvent, "delivered"): Feed(den=1.0, measure=LATE)},
    order_state=True,
    colocated=True,
)
