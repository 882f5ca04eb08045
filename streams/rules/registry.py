"""The registry of rules: every rule the rules file may configure, by name.

:data:`DEFAULT_REGISTRY` lists the shipped rules of :mod:`streams.rules.builtin`
explicitly, in the catalogue's order (the order in which the pipeline runs them and
reports name them). A test or an embedding program may build its own
:class:`Registry` and pass it to :func:`streams.rules.catalogue.parse_rules`: each
configured :class:`~streams.rules.spec.RuleSpec` carries its rule's definition, so the
pipeline needs nothing else.

Examples
--------
>>> DEFAULT_REGISTRY["return_rate"].kind
'ratio'
>>> DEFAULT_REGISTRY.with_trait("colocated")[:3]
('order_volume', 'complaint_rate', 'wait_time_p90')
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Final, Literal

from streams.rules.builtin import (
    bad_review_rate,
    cancellation_rate,
    complaint_rate,
    complaint_volume,
    customer_order_burst,
    delivery_time_p90,
    frequent_returner,
    handle_time_p90,
    late_delivery_share,
    lost_parcel,
    low_satisfaction_share,
    order_outlier,
    order_volume,
    refund_delay_p90,
    return_rate,
    shared_address,
    wait_sla_breach_share,
    wait_time_p90,
)
from streams.rules.spec import Rule

__all__ = ["DEFAULT_REGISTRY", "Registry"]

Trait = Literal["entity", "order_state", "colocated", "shared_denominator", "cohort"]


class Registry(Mapping[str, Rule]):
    """Rules by name, in the order given; a name given twice is refused."""

    __slots__ = ("_rules",)

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.name in self._rules:
                msg = f"rule {rule.name!r} registered twice"
                raise ValueError(msg)
            self._rules[rule.name] = rule

    def __getitem__(self, name: str) -> Rule:
        return self._rules[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def with_trait(self, trait: Trait) -> tuple[str, ...]:
        """Names of the rules that have ``trait`` (for messages and documentation)."""
        return tuple(name for name, rule in self._rules.items() if getattr(rule, trait))


#: The shipped rules (contract section 4 and the rules of 7.3), one module each.
DEFAULT_REGISTRY: Final = Registry(
    [
        order_volume.RULE,
        order_outlier.RULE,
        customer_order_burst.RULE,
        return_rate.RULE,
        complaint_rate.RULE,
        complaint_volume.RULE,
        wait_time_p90.RULE,
        wait_sla_breach_share.RULE,
        handle_time_p90.RULE,
        low_satisfaction_share.RULE,
        bad_review_rate.RULE,
        cancellation_rate.RULE,
        delivery_time_p90.RULE,
        late_delivery_share.RULE,
        lost_parcel.RULE,
        refund_delay_p90.RULE,
        frequent_returner.RULE,
        shared_address.RULE,
    ]
)
