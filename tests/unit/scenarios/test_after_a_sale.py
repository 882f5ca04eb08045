"""A shop-wide drop the evening after a sale, through ``replay`` with the shipped
``order_volume``: the total pages on drops only, and while the sale lifts it the total
learns slowly (``thresholds.engine``), so the drop is judged against a normal day's
orders, not against a baseline and band the sale has lifted and widened."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.scenarios.test_noise_floor import (
    DAY,
    DAYS,
    HOUR,
    MIN,
    T0,
    end_ms,
    firing,
    orders,
    replay,
    shipped,
)

pytestmark = pytest.mark.slow

SALE = T0 + DAYS * DAY + 4 * HOUR  # x2.3 over 8 h, held 16 h, back over 4 h
DROP = SALE + 36 * HOUR  # 8 h after the sale: orders halve for 2 h


def factor(t: int) -> float:
    if DROP <= t < DROP + 2 * HOUR:
        return 0.5
    x = (t - SALE) / HOUR
    if x < 0 or x >= 28:
        return 1.0
    if x < 24:
        return 1.0 + 1.3 * min(x / 8, 1.0)
    return 2.3 - 1.3 * (x - 24) / 4


@pytest.mark.parametrize("seed", [1])
def test_a_halving_the_evening_after_a_sale_fires_at_once(seed: int) -> None:
    """~100 orders per 15 min: nothing fires during or after the sale, and the halving
    fires within 30 min (15 min on seeds 1-3; 45-75 min before the total learned slowly
    in a sale)."""
    alerts = replay(
        shipped("order_volume"),
        orders(np.random.default_rng(seed), 100, DROP + 3 * HOUR, factor),
    )
    total = firing(alerts, "order_volume", "all")
    assert not [a for a in total if SALE < end_ms(a) <= DROP], "the sale or its end fired"
    drop = [a for a in total if a.direction == "down" and end_ms(a) > DROP]
    assert drop, "the halving did not fire"
    assert end_ms(drop[0]) <= DROP + 30 * MIN, f"found {(end_ms(drop[0]) - DROP) / MIN} min in"
