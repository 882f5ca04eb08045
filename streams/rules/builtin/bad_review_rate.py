"""``bad_review_rate``: the share of reviews rated 2 stars or less (contract 7.3)."""

from __future__ import annotations

from typing import Final

from streams.contract.events import ReviewEvent
from streams.rules.spec import Feed, Measure, OrderFactsView, Rule, RuleSpec


def _bad_review(event: ReviewEvent, _spec: RuleSpec, _facts: OrderFactsView | None) -> bool:
    """A rating of 2 stars or less."""
    return event.rating <= 2


BAD_REVIEW: Final = Measure("bad_review", "share", _bad_review)

RULE: Final[Rule] = Rule(
    "bad_review_rate",
    "ratio",
    ("reviews",),
    frozenset({"total", "sku", "category"}),
    ("sku", "category"),
    feeds={(ReviewEvent, None): Feed(den=1.0, measure=BAD_REVIEW)},
)
