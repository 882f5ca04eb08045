"""``customer_order_burst``: placed orders of one customer or delivery address per window,
judged per entity against its own history or the population's norm
(:class:`thresholds.entity_rate.EntityRates`) instead of a series bank.
"""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "customer_order_burst",
    "count",
    ("orders",),
    frozenset({"customer", "address"}),
    ("customer", "address"),
    feeds={(OrderEvent, "placed"): Feed(num=1.0)},
    entity="burst",
)
