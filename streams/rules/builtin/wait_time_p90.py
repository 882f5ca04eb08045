"""``wait_time_p90``: the 90th percentile (``quantile``) of support tickets' wait."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _wait(event: WaitTimeEvent, _spec: RuleSpec, _facts: OrderFactsView | None) -> float | None:
    """The ticket's wait in seconds."""
    return event.wait_seconds


WAIT: Final = Measure("wait", "sketch", _wait)

RULE: Final[Rule] = Rule(
    "wait_time_p90",
    "percentile",
    ("wait-times",),
    SERVICE_DIMENSIONS,
    ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=WAIT)},
    colocated=True,
)
