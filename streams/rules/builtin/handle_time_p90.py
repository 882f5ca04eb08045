"""``handle_time_p90``: the 90th percentile of support tickets' handling time
(contract 7.3)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, Rule

HANDLE: Final = Measure("handle", "sketch",
                        lambda event, _spec, _facts: event.handle_seconds)

RULE: Final = Rule(
    "handle_time_p90", "percentile", ("wait-times",), SERVICE_DIMENSIONS, ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=HANDLE)},
)
