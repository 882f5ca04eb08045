"""``complaint_rate``: complaints against delivered orders. Its series live on one closer,
so each key can be judged against its peers (``relative_to = "peers"``: when deliveries dip
on a Sunday, the day's complaints about the busier days before lift every cell at once).
Its SKUs are too many for one closer: they spread by id, each judged against the SKUs on
its closer.

A delivery has no complaint reason, so ``reason`` is a shared-denominator field, as in
``return_rate``: a ``category,reason`` series is the category's complaints with that
reason against all of the category's deliveries (a supplier's faulty goods show in their
category's ``quality`` complaints, spread over SKUs too small to judge one by one)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import ComplaintEvent, OrderEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "complaint_rate",
    "ratio",
    ("orders", "complaints"),
    ORDER_DIMENSIONS | {"reason"},
    ("sku", "category", "carrier", "region"),
    feeds={(OrderEvent, "delivered"): Feed(den=1.0), (ComplaintEvent, None): Feed(num=1.0)},
    colocated=True,
    spread=frozenset({"sku"}),
    shared_denominator=frozenset({"reason"}),
)
