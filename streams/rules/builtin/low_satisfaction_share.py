"""``low_satisfaction_share``: the share of rated support tickets with a satisfaction
score of 2 or less (contract 7.3); a ticket without a score feeds nothing."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, Rule

LOW_CSAT: Final = Measure(
    "low_csat", "share",
    lambda event, _spec, _facts: None if event.csat is None else event.csat <= 2)

RULE: Final = Rule(
    "low_satisfaction_share", "ratio", ("wait-times",), SERVICE_DIMENSIONS, ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=LOW_CSAT)},
)
