"""Realism of the generated traffic, measured on the first (incident-free) week of a run."""

from __future__ import annotations

import numpy as np
import pytest

from streams.dev.simulator.config import DEFAULT_CATEGORIES
from streams.dev.simulator.timefmt import MS_PER_DAY, MS_PER_HOUR
from tests.unit.simulator.conftest import RUN_ORDERS_PER_DAY, Run


def _history(run: Run) -> np.ndarray:
    start = run.sim.config.start_ms
    return run.cols.between(start, start + 7 * MS_PER_DAY)


class TestSeasonality:
    def test_daily_peak_over_trough(self, default_run: Run) -> None:
        """Placed orders in the busiest hour of day are over twice the quietest hour's."""
        c = default_run.cols
        placed = c.order_status("placed") & _history(default_run)
        per_hour = np.bincount((c.ts[placed] % MS_PER_DAY) // MS_PER_HOUR, minlength=24)
        assert per_hour.max() / per_hour.min() > 2

    def test_evening_peak(self, default_run: Run) -> None:
        """The busiest hour is in the evening (18:00-23:00 UTC)."""
        c = default_run.cols
        placed = c.order_status("placed") & _history(default_run)
        per_hour = np.bincount((c.ts[placed] % MS_PER_DAY) // MS_PER_HOUR, minlength=24)
        assert 18 <= int(per_hour.argmax()) <= 23

    def test_weekly_sunday_over_saturday(self, default_run: Run) -> None:
        """Sunday has clearly more placed orders than Saturday."""
        c = default_run.cols
        placed = c.order_status("placed") & _history(default_run)
        per_dow = np.bincount((c.ts[placed] // MS_PER_DAY + 3) % 7, minlength=7)
        assert per_dow[6] > 1.15 * per_dow[5]

    def test_daily_volume_near_configured(self, default_run: Run) -> None:
        """Placed orders per day average within 10% of orders_per_day."""
        c = default_run.cols
        per_day = (c.order_status("placed") & _history(default_run)).sum() / 7
        assert per_day == pytest.approx(RUN_ORDERS_PER_DAY, rel=0.1)


class TestReturnRates:
    @pytest.mark.parametrize("category", DEFAULT_CATEGORIES, ids=lambda c: c.name)
    def test_category_return_rate_near_configured(self, default_run: Run, category) -> None:
        """Each category's (returns + exchanges) / delivered over the run is near its rate."""
        c = default_run.cols
        observed = c.return_rate(c.category == category.name)
        assert observed == pytest.approx(category.return_rate, rel=0.25, abs=0.01)

    def test_categories_differ(self, default_run: Run) -> None:
        """Apparel returns several times as often as books."""
        c = default_run.cols
        hist = _history(default_run)
        assert c.return_rate(hist & (c.category == "apparel")) > 5 * c.return_rate(
            hist & (c.category == "books")
        )


class TestPopularity:
    def test_zipf_head(self, default_run: Run) -> None:
        """The top 1% of SKUs take over a quarter of placed orders."""
        c = default_run.cols
        _, counts = np.unique(c.sku[c.order_status("placed")], return_counts=True)
        counts = np.sort(counts)[::-1]
        top = max(1, default_run.sim.config.n_skus // 100)
        assert counts[:top].sum() / counts.sum() > 0.25

    def test_long_tail(self, default_run: Run) -> None:
        """Most SKUs sell, but the bottom half takes under 15% of orders."""
        c = default_run.cols
        _, counts = np.unique(c.sku[c.order_status("placed")], return_counts=True)
        counts = np.sort(counts)[::-1]
        assert len(counts) > 0.8 * default_run.sim.config.n_skus
        assert counts[len(counts) // 2 :].sum() / counts.sum() < 0.15


class TestLifecycleTiming:
    def test_delivery_takes_days(self, default_run: Run) -> None:
        """The median order is delivered 2 to 6 days after it was placed."""
        c = default_run.cols
        placed = dict(
            zip(c.key[c.order_status("placed")], c.ts[c.order_status("placed")], strict=True)
        )
        delivered = c.order_status("delivered")
        lags = [
            ts - placed[k]
            for k, ts in zip(c.key[delivered], c.ts[delivered], strict=True)
            if k in placed
        ]
        assert 2 * MS_PER_DAY < np.median(lags) < 6 * MS_PER_DAY

    def test_small_share_cancelled(self, default_run: Run) -> None:
        """Between 1% and 4% of placed orders are cancelled."""
        c = default_run.cols
        share = c.order_status("cancelled").sum() / c.order_status("placed").sum()
        assert 0.01 < share < 0.04


class TestWaitTimes:
    def test_waits_grow_with_load(self, default_run: Run) -> None:
        """The p90 wait in the evening peak is over twice the night's."""
        c = default_run.cols
        waits = (c.topic == "wait-times") & _history(default_run)
        hour = (c.ts % MS_PER_DAY) // MS_PER_HOUR
        peak = np.percentile(c.wait[waits & (hour >= 19) & (hour < 22)], 90)
        night = np.percentile(c.wait[waits & (hour >= 2) & (hour < 5)], 90)
        assert peak > 2 * night

    def test_every_queue_and_channel_appears(self, default_run: Run) -> None:
        """Tickets cover the configured queues."""
        c = default_run.cols
        waits = c.topic == "wait-times"
        assert set(c.queue[waits]) == {q for q, _ in default_run.sim.config.queues}
