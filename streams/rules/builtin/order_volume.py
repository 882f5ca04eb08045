"""``order_volume``: placed orders per window (contract section 4).

Colocated: all its series live on one closer, so each key can be judged against the
total's movement in the same window (``relative_to = "total"``).
"""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "order_volume",
    "count",
    ("orders",),
    ORDER_DIMENSIONS,
    ("total", "region", "channel", "category"),
    feeds={(OrderEvent, "placed"): Feed(num=1.0)},
    colocated=True,
)
