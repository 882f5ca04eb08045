"""``frequent_returner``: a customer's returns in a rolling 30 days against the
population's return rate (:class:`thresholds.return_history.ReturnHistory`), judged per
entity; windows only feed the rolling sums."""

from __future__ import annotations

from typing import Final

from streams.contract.events import OrderEvent
from streams.rules.spec import Feed, Rule

_RETURN: Final = Feed(num=1.0)

RULE: Final[Rule] = Rule(
    "frequent_returner",
    "count",
    ("orders",),
    frozenset({"customer"}),
    ("customer",),
    feeds={
        (OrderEvent, "return_requested"): _RETURN,
        (OrderEvent, "exchange_requested"): _RETURN,
        (OrderEvent, "delivered"): Feed(den=1.0),
    },
    entity="returns",
)
