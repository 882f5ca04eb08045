"""Two simulated days with a wrong price on day two: enough traffic for per-event verdicts,
partials, risk facts and watermarks (shared by the closer-queue and intake-stage tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from streams.cli.demo import best_seller
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.incidents import Incident, WrongPrice

START = datetime(2026, 11, 2, tzinfo=UTC)


def wrong_price_days(*more: Incident) -> SimulationConfig:
    """Seed 5, 4,000 orders a day over 40 SKUs; the best seller at x0.1 for 6 h from day
    two 02:00, then ``more`` incidents."""
    base = SimulationConfig(
        seed=5,
        start=START,
        duration=timedelta(days=2),
        orders_per_day=4_000,
        n_skus=40,
        n_customers=5_000,
    )
    wrong_price = WrongPrice(
        start=START + timedelta(days=1, hours=2),
        duration=timedelta(hours=6),
        sku=best_seller(base),
        magnitude=0.1,
    )
    return replace(base, incidents=(wrong_price, *more))
