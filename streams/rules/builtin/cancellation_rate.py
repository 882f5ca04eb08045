"""``cancellation_rate``: cancelled against placed orders (contract 7.3).

A placed order has no reason yet, so a reason's series divides by every placed order:
``reason`` is a shared-denominator dimension.
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
    feeds={(OrderEvent, "cancelled"): Feed(num=1.0), (OrderEvent, "placed"): Feed(den=1.0)},
    shared_denominator=frozenset({"reason"}),
)
