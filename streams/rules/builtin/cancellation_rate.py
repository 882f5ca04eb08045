"""``cancellation_rate``: cancelled against placed orders (contract 7.3).

A placed order has no reason yet, so a reason's series divides by every placed order:
``reason`` is a shared-denominator dimension.

Cancellations come hours after their placement, so when a promotion's orders fall back
its cancellations go on arriving against fewer placements. With ``cohort`` set, only
cancellations within that long of their own order's placement count, against the
window's placement exposure (``streams.pipeline.cohorts``), as ``return_rate`` does with
deliveries.
"""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "cancellation_rate",
    "ratio",
    ("orders",),
    ORDER_DIMENSIONS | {"reason"},
    ("channel", "category", "reason"),
    feeds={
        (OrderEvent, "cancelled"): Feed(num=1.0, cohort=True),
        (OrderEvent, "placed"): Feed(den=1.0),
    },
    shared_denominator=frozenset({"reason"}),
)
