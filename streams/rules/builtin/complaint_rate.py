"""``complaint_rate``: complaints against delivered orders."""

from __future__ import annotations

from typing import Final

from streams.contract.events import ComplaintEvent, OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "complaint_rate",
    "ratio",
    ("orders", "complaints"),
    ORDER_DIMENSIONS,
    ("sku", "category", "carrier", "region"),
    feeds={(OrderEvent, "delivered"): Feed(den=1.0), (ComplaintEvent, None): Feed(num=1.0)},
)
