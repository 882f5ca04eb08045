"""``handle_time_p90``: the 90th percentile of support tickets' handling time
(contract 7.3)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _handle(event: WaitTimeEvent, _spec: RuleSpec, _facts: OrderFactsView | None) -> float | None:
    """The ticket's handling time in seconds (``None``: not reported)."""
    return event.handle_seconds


HANDLE: Final = Measure("handle", "sketch", _handle)

RULE: Final[Rule] = Rule(
    "handle_time_p90",
    "percentile",
    ("wait-times",),
    SERVICE_DIMENSIONS,
    ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=HANDLE)},
)
