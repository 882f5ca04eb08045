"""Rate bands after a cold start, through ``replay`` with the shipped rules (issue #16).

A worker or a replay starts with no history. When a rate's numerator lags its denominator
(returns and complaints come hours or days after the delivery), its first windows show
deliveries without their returns or complaints yet. Warm-up must not learn that start-up
transient as the series' normal spread. Each test replays 21 days of one busy series
(600 deliveries a day, steady rates, no overdispersion: the band should be z = 3 sampling
sigmas plus a little for the seasonal slots, about 3.3-3.7) and checks the median band
width, in sampling sigmas, over every judged window.

Both failed until windows settled (``RuleSpec.settle_ms``): the start-up transient was
learned as variance, 13.1 and 5.0 sampling sigmas (``docs/quality.md``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from benchmarks.matrix_scoring import band_efficiency
from streams.pipeline.closer import Closed
from streams.pipeline.replay import ReplayPipeline
from tests.unit.oncall.helpers import shipped

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday
DAYS = 21
PER_DAY = 600
BAND_LIMIT = 4.5
"""Median band / sampling sigma allowed (z = 3 with 50 % model error)."""

Record = tuple[str, bytes, bytes]


def _record(topic: str, key: str, value: dict[str, object]) -> Record:
    return topic, key.encode(), json.dumps(value).encode()


def traffic(*, returns: float = 0.0, complaints: float = 0.0, seed: int = 7) -> list[Record]:
    """Daytime deliveries of one SKU in one region x carrier cell from ``T0``; each is
    returned with probability ``returns`` after 1 + Gamma(2, 1.5) days and complained
    about with probability ``complaints`` 0.5-30 h after delivery."""
    rng = np.random.default_rng(seed)
    timed: list[tuple[int, Record]] = []
    cell = {"sku": "S1", "region": "north", "carrier": "SF"}
    for day in range(DAYS):
        for i in range(PER_DAY):
            t = T0 + day * DAY + int((8 + 12 * rng.random()) * HOUR)
            order = f"o{day}-{i}"
            delivered = {"event_id": f"{order}:d", "ts": t, "order_id": order}
            timed.append((t, _record("orders", order, delivered | {"status": "delivered"} | cell)))
            if rng.random() < returns:
                tr = t + int((1 + rng.gamma(2.0, 1.5)) * DAY)
                asked = {"event_id": f"{order}:r", "ts": tr, "order_id": order}
                timed.append(
                    (tr, _record("orders", order, asked | {"status": "return_requested"} | cell))
                )
            if rng.random() < complaints:
                tc = t + int(rng.uniform(0.5, 30.0) * HOUR)
                complaint = {"event_id": f"c{order}", "ts": tc, "complaint_id": f"c{order}"}
                value = complaint | {"order_id": order, "reason": "damaged"} | cell
                timed.append((tc, _record("complaints", f"c{order}", value)))
    timed.sort(key=lambda pair: pair[0])
    return [record for _, record in timed]


def band_in_sampling_sigmas(rule: str, dimension: str, records: list[Record]) -> list[float]:
    """The quality matrix's band efficiency, ``(upper - baseline) / sqrt(p (1 - p) / n)``,
    of every judged window of ``rule``."""
    out: list[float] = []

    def on_closed(closed: Closed) -> None:
        d = closed.decision
        width = band_efficiency("share", d.baseline, d.upper, d.sample_size)
        if width is not None:
            out.append(width)

    pipeline = ReplayPipeline(shipped([rule], dimensions={rule: [dimension]}), partitions=1)
    pipeline.closer.on_closed = on_closed
    list(pipeline.run(records))
    return out


@pytest.mark.parametrize(
    ("rule", "dimension", "rates"),
    [
        # 13.1 sampling sigmas before windows settled for `cohort` (3 days).
        pytest.param("return_rate", "sku", {"returns": 0.25}, id="return_rate"),
        # 5.0 before its windows settled for a day (`settle = "1d"`).
        pytest.param(
            "complaint_rate", "region,carrier", {"complaints": 0.035}, id="complaint_rate"
        ),
    ],
)
def test_band_after_a_cold_start(rule: str, dimension: str, rates: dict[str, Any]) -> None:
    widths = band_in_sampling_sigmas(rule, dimension, traffic(**rates))
    assert len(widths) > 40, "the series was not judged for ten days"
    assert float(np.median(widths)) < BAND_LIMIT, np.round(widths[::4], 1)
