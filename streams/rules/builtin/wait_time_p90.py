"""``wait_time_p90``: the 90th percentile (``quantile``) of support tickets' wait."""

from __future__ import annotations

from typing import Final

from streams.contract.events import WaitTimeEvent
from streams.rules.builtin import SERVICE_DIMENSIONS
from streams.rules.spec import Feed, Measure, Rule

WAIT: Final = Measure("wait", "sketch", lambda event, _spec, _facts: event.wait_seconds)

RULE: Final = Rule(
    "wait_time_p90", "percentile", ("wait-times",), SERVICE_DIMENSIONS, ("queue",),
    feeds={(WaitTimeEvent, None): Feed(den=1.0, measure=WAIT)},
)
