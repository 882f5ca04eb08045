"""``shared_address``: distinct customers ordering to one address in a day, against the
address's own history and the population's floor (:class:`thresholds.entity_rate.EntityRates`),
judged per entity. It always collects the customers of an address (counted, never shown)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "shared_address",
    "count",
    ("orders",),
    frozenset({"address"}),
    ("address",),
    feeds={(OrderEvent, "placed"): Feed(num=1.0)},
    entity="distinct_customers",
    forced_context=("customer_id",),
)
