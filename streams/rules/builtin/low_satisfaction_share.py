"""``low_satisfaction_share``: the share of rated support tickets with a satisfaction
score of 2 or less (contract 7.3); a ticket without a score feeds nothing."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _low_csat(event: WaitTimeEvent, _spec: RuleSpec, _facts: OrderFactsView | None) -> bool | None:
    """A satisfaction score of 2 or less (``None``: the ticket is not rated)."""
    return None if event.csat is None else event.csat <= 2


LOW_CSAT: Final = Measure("low_csat", "share", _low_csat)

RULE: Final[Rule] = Rule(
    "low_satisfaction_share",
    "ratio",
    ("wait-times",),
    SERVICE_DIMENSIONS,
    ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=LOW_CSAT)},
)
