"""``complaint_rate``: complaints against delivered orders. Its series live on one closer,
so each key can be judged against its peers (``relative_to = "peers"``: when deliveries dip
on a Sunday, the day's complaints about the busier days before lift every cell at once).
Its SKUs are too many for one closer: they spread by id, each judged against the SKUs on
its closer."""

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
    colocated=True,
    spread=frozenset({"sku"}),
)
