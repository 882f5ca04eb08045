"""The risk benchmark's bound: the oracle's probability with the customer's propensity
replaced by its posterior mean given the customer's earlier outcomes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from benchmarks.risk import propensity_bound

DAY = 86_400_000


def _sim(parts: dict[str, tuple[float, float, int]]) -> Any:
    """Two customers whose propensities were drawn from a wide spread."""
    propensity = np.exp(np.random.default_rng(1).normal(0.0, 1.0, 5_000))
    return SimpleNamespace(
        orders=SimpleNamespace(propensity=propensity / propensity.mean()),
        risk_parts=parts,
    )


def test_outcomes_raise_the_posterior_and_quiet_orders_lower_it() -> None:
    """Customer 0 returned all five earlier deliveries, customer 1 none: the same next
    order gets a higher bound for 0 than its prior mean, and a lower one for 1."""
    parts = {f"O-{c}-{i}": (0.1, 0.02, c) for c in (0, 1) for i in range(6)}
    delivered = {f"O-{c}-{i}": i * DAY for c in (0, 1) for i in range(6)}
    outcomes = {f"O-0-{i}": i * DAY + DAY for i in range(5)}
    sim = _sim(parts)
    bound = propensity_bound(sim, delivered, outcomes, ["O-0-0", "O-0-5", "O-1-5"])
    first, returner, quiet = bound["O-0-0"], bound["O-0-5"], bound["O-1-5"]
    assert quiet < first < returner
    # The first order has no history: its bound is the prior mean of the true probability.
    prior_mean = np.mean(1 - (1 - np.minimum(0.1 * sim.orders.propensity, 0.9)) * 0.98)
    assert first == pytest.approx(prior_mean, rel=0.02)


def test_a_b2b_account_has_its_known_probability() -> None:
    """Customers past the drawn propensities are B2B accounts of propensity 1."""
    sim = _sim({"O-b2b": (0.2, 0.05, 10_000)})
    bound = propensity_bound(sim, {"O-b2b": 0}, {}, ["O-b2b"])
    assert bound == {"O-b2b": pytest.approx(1 - 0.8 * 0.95)}
