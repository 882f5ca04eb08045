"""``order_outlier``: an order whose unit price or quantity is far from its sku's (or
category's) norm, scored per event on arrival (``streams.pipeline.aggregate``).

The ``sku`` dimension adds one episode per mispriced sku and cause
(``streams.pipeline.sku_rollup``).
"""

from __future__ import annotations

from typing import Final

from streams.rules.spec import Rule

RULE: Final[Rule] = Rule(
    "order_outlier", "event", ("orders",), frozenset({"order", "sku"}), ("order",)
)
