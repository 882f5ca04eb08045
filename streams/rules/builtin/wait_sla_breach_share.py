"""``wait_sla_breach_share``: the share of support tickets that waited longer than the
rule's ``sla``."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _breach(event: WaitTimeEvent, spec: RuleSpec, _facts: OrderFactsView | None) -> bool:
    """Whether the ticket waited longer than the rule's ``sla``."""
    return event.wait_seconds > spec.sla_seconds


BREACH: Final = Measure("breach", "share", _breach)

RULE: Final[Rule] = Rule(
    "wait_sla_breach_share",
    "ratio",
    ("wait-times",),
    SERVICE_DIMENSIONS,
    ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=BREACH)},
)
