"""``complaint_volume``: complaints per window (``reason`` splits them by cause)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import ComplaintEvent
from streams.rules.builtin import ORDER_DIMENSIONS
from streams.rules.spec import Feed, Rule

RULE: Final[Rule] = Rule(
    "complaint_volume",
    "count",
    ("complaints",),
    ORDER_DIMENSIONS | {"reason"},
    ("total", "reason"),
    feeds={(ComplaintEvent, None): Feed(num=1.0)},
)
