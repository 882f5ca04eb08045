"""The shipped rules, one module per rule, each declaring one :class:`~streams.rules.spec.Rule`
named ``RULE``. :mod:`streams.rules.registry` lists them explicitly (nothing here is
discovered by import): adding a rule is adding a module here, a line there, its texts in
:mod:`alerts.locales` and its test (docs/architecture.md, "Adding a rule").
"""

from __future__ import annotations

from typing import Final

__all__ = ["ORDER_DIMENSIONS", "SERVICE_DIMENSIONS"]

#: Dimensions of the rules that read orders (and complaints).
ORDER_DIMENSIONS: Final = frozenset({"total", "sku", "category", "region", "carrier", "channel"})
#: Dimensions of the rules that read support tickets (``wait-times``).
SERVICE_DIMENSIONS: Final = frozenset({"total", "queue", "channel", "region"})
