"""``return_rate``: returns and exchanges requested against deliveries.

With ``cohort`` set, only returns requested within that long of their own order's
delivery count, against the window's delivery exposure (``streams.pipeline.cohorts``).

A delivery has no return reason yet, so ``reason`` is a shared-denominator field: a
``region,carrier,reason`` series is the cell's returns with that reason against all of
the cell's deliveries (a carrier that damages parcels in one region shows in its
``damaged`` returns, without the noise of the cell's other returns).
"""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Rule

_RETURN: Final = Feed(num=1.0, cohort=True)

RULE: Final[Rule] = Rule(
    "return_rate",
    "ratio",
    ("orders",),
    ORDER_DIMENSIONS | {"reason"},
    ("sku", "category", "region", "carrier", "region,carrier"),
    feeds={
        (OrderEvent, "return_requested"): _RETURN,
        (OrderEvent, "exchange_requested"): _RETURN,
        (OrderEvent, "delivered"): Feed(den=1.0),
    },
    shared_denominator=frozenset({"reason"}),
)
