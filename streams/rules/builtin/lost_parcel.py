"""``lost_parcel``: a parcel still undelivered ``lost_after`` times its cell's p90 transit
after it shipped, reported per order from the per-order state
(``streams.pipeline.order_state``); ``carrier`` adds one episode per carrier listing the
lost orders."""

from __future__ import annotations

from typing import Final

from streams.rules.spec import Rule

RULE: Final[Rule] = Rule(
    "lost_parcel",
    "event",
    ("orders",),
    frozenset({"order", "carrier"}),
    ("order",),
    order_state=True,
    rollup_learns_rate=True,
)
