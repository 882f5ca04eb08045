"""``refund_delay_p90``: the 90th percentile of hours from a return request to its refund,
from the per-order state kept in the intake (``streams.pipeline.order_state``)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _refund(_event: OrderEvent, _spec: RuleSpec, facts: OrderFactsView | None) -> float | None:
    """Hours from the return request to the refund (``None``: no request seen)."""
    return None if facts is None else facts.refund_hours


REFUND: Final = Measure("refund", "sketch", _refund)

RULE: Final[Rule] = Rule(
    "refund_delay_p90",
    "percentile",
    ("orders",),
    ORDER_DIMENSIONS,
    ("category", "channel"),
    feeds={(OrderEvent, "refunded"): Feed(den=1.0, measure=REFUND)},
    order_state=True,
)
