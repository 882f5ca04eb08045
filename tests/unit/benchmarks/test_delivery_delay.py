"""``benchmarks/delivery_delay.py``: the rule under test is the rules file's
``delivery_time_p90`` alone, and a delay the rule can see is found on its cell."""

from __future__ import annotations

import pytest

from benchmarks.delivery_delay import delay_rules, run


def test_the_rules_file_s_delivery_time_p90_alone_after_three_days() -> None:
    rules = delay_rules(None)
    (spec,) = rules.rules
    assert spec.name == "delivery_time_p90"
    assert spec.relative_to == "peers"  # as shipped
    assert spec.detector is not None and spec.detector.grace_period == 72


@pytest.mark.slow
def test_a_large_delay_is_found_on_its_cell() -> None:
    """x2.2 transit on one cell at 5,000 orders a day (seed 1, starting on day 4): found
    about five days in (the delayed parcels must first arrive), nothing else pages."""
    found, false = run(delay_rules(None), 1, 5_000, 2.2, 4)
    assert found is not None and 24 < found < 8 * 24
    assert false == 0
