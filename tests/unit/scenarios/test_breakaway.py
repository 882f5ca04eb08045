"""A key that breaks away from its total is set apart when the other keys of its
dimension are judged (``window_judge.exposure_without_breakaways``), through ``replay``
with the shipped ``order_volume``: one channel's outage or surge moves every other
channel's share of the total, and without setting it apart they fire too, on the
opposite side (an on-call person paged for a "drop" on a channel that is fine).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from alerts.model import AlertEvent
from tests.unit.scenarios.test_noise_floor import (
    DAY,
    DAYS,
    HOUR,
    T0,
    channel_orders,
    end_ms,
    firing,
    replay,
    shipped,
)

pytestmark = pytest.mark.slow

START = T0 + DAYS * DAY + 14 * HOUR
PER_15MIN = 300  # app 55 %, web 35 %, mini 10 % (``channel_orders``), drawn at twice
# that and kept at half, so that one channel can double


def during(t: int) -> bool:
    return START <= t < START + 2 * HOUR


def channel_alerts(seed: int, keep: Callable[[int, str], float]) -> list[AlertEvent]:
    """Shipped ``order_volume`` over nine days of three channels and 2 h of change."""
    return [
        a
        for a in firing(
            replay(
                shipped("order_volume"),
                channel_orders(np.random.default_rng(seed), 2 * PER_15MIN, START + 4 * HOUR, keep),
            ),
            "order_volume",
        )
        if a.dimension == "channel" and end_ms(a) > START
    ]


@pytest.mark.parametrize("seed", [1])
def test_a_channel_halving_fires_it_and_not_the_others(seed: int) -> None:
    """The app channel (55 %) halves for 2 h: the web and mini shares rise by a third of
    the total, which fired another channel *up* before the app was set apart (seeds 1-3
    of this traffic)."""
    alerts = channel_alerts(seed, lambda t, c: 0.25 if c == "app" and during(t) else 0.5)
    app = [a for a in alerts if a.key == "app" and a.direction == "down"]
    assert app and end_ms(app[0]) <= START + 30 * 60_000, "the outage was not found at once"
    assert not [a for a in alerts if a.key != "app"], "another channel fired on the outage"


@pytest.mark.parametrize("seed", [1])
def test_a_channel_surge_fires_it_and_not_the_others(seed: int) -> None:
    """The web channel (35 %) doubles for 2 h (a campaign, a bot): the other shares
    fall, which fired another channel *down* (a false outage) before web was set apart
    (seeds 1-3 of this traffic)."""
    alerts = channel_alerts(seed, lambda t, c: 1.0 if c == "web" and during(t) else 0.5)
    web = [a for a in alerts if a.key == "web" and a.direction == "up"]
    assert web and end_ms(web[0]) <= START + 30 * 60_000, "the surge was not found at once"
    assert not [a for a in alerts if a.key != "web"], "another channel fired on the surge"
