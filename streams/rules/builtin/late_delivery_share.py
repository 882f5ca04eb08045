"""``late_delivery_share``: the share of deliveries after their promised time, from the
per-order state kept in the intake (``streams.pipeline.order_state``)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Measure, Rule

LATE: Final = Measure("late", "share",
                      lambda _event, _spec, facts: None if facts is None else facts.late)

RULE: Final = Rule(
    "late_delivery_share", "ratio", ("orders",), ORDER_DIMENSIONS,
    ("carrier", "region", "region,carrier"),
    feeds={(OrderEvent, "delivered"): Feed(den=1.0, measure=LATE)},
    order_state=True,
)
