"""``wait_sla_breach_share``: the share of support tickets that waited longer than the
rule's ``sla``."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, Rule

BREACH: Final = Measure("breach", "share",
                        lambda event, spec, _facts: event.wait_seconds > spec.sla_seconds)

RULE: Final = Rule(
    "wait_sla_breach_share", "ratio", ("wait-times",), SERVICE_DIMENSIONS, ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=BREACH)},
)
