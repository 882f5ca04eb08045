"""``total_cusum_h`` on ``order_volume``: the total series gathers evidence against its own
CUSUM threshold, while the channels, judged as shares of it, keep the detector's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from streams.cli.main import main
from streams.rules.catalogue import RuleSet, parse_rules
from tests.unit.scenarios.test_noise_floor import (
    DAY,
    DAYS,
    HOUR,
    T0,
    channel_orders,
    end_ms,
    firing,
    replay,
)
from tests.unit.streams.test_rules import default_document

pytestmark = pytest.mark.slow


def order_volume(**extra: Any) -> RuleSet:
    """The shipped ``order_volume`` alone, with ``extra`` settings (``None`` removes one)."""
    document = default_document()
    rule = {**document["rules"]["order_volume"], **extra}
    rule = {k: v for k, v in rule.items() if v is not None}
    document["rules"] = {"order_volume": rule}
    return parse_rules(document)


def test_the_shipped_total_needs_more_evidence_than_its_shares() -> None:
    rule = order_volume().by_name("order_volume")
    assert rule.detector is not None
    assert rule.total_cusum_h == 6.0
    assert rule.detector.cusum_h == 5.0
    assert order_volume(total_cusum_h=None).by_name("order_volume").total_cusum_h is None
    assert rule.cusum_h_of("total") == 6.0
    assert rule.cusum_h_of("channel") == 5.0


@pytest.mark.parametrize(
    ("dimension", "key", "h"), [("total", "all", "6"), ("channel", "app", "5")]
)
def test_explain_names_the_threshold_the_series_fires_at(
    tmp_path: Path, dimension: str, key: str, h: str
) -> None:
    """``aftersales explain`` heads its table with the series' own CUSUM threshold."""
    events = tmp_path / "events.jsonl"
    with events.open("w", encoding="utf-8") as out:
        for record in channel_orders(np.random.default_rng(1), 20, T0 + DAY, lambda t, c: 1.0):
            out.write(json.dumps({"topic": "orders", "value": record["value"]}) + "\n")
    args = ["explain", str(events), "--rule", "order_volume", "--dimension", dimension]
    result = CliRunner().invoke(main, [*args, "--key", key])
    assert result.exit_code == 0, result.output
    assert f"(fires at cusum {h})" in result.output.splitlines()[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_total_is_held_to_its_own_threshold(seed: int) -> None:
    """The whole shop at x0.75 for 4 h (inside the band, found on sequential evidence):
    the total fires down at the shipped threshold and stays quiet at a threshold no 4 h
    can reach; the channels, whose shares do not move, never fire. The second run judges
    on sequential evidence alone: a x0.75 drop may leave the band in two of three windows
    by chance (seed 1 at 15:15 and 15:30, 84 and 80 orders against a lower edge of 85
    and 81), which would fire on persistence whatever the CUSUM threshold."""
    start = T0 + DAYS * DAY + 12 * HOUR

    def keep(t: int, _channel: str) -> float:
        return 0.75 if start <= t < start + 4 * HOUR else 1.0

    def run(rules: RuleSet) -> list[Any]:
        traffic = channel_orders(np.random.default_rng(seed), 80, start + 5 * HOUR, keep)
        return [a for a in firing(replay(rules, traffic), "order_volume") if end_ms(a) > start]

    shipped = run(order_volume())
    assert [a.key for a in shipped] == ["all"]
    assert shipped[0].direction == "down"
    assert end_ms(shipped[0]) <= start + 4 * HOUR
    sequential_only = {
        **default_document()["rules"]["order_volume"]["detector"],
        "persistence": [32, 32],
        "fire_immediately_at": 1000.0,
    }
    assert run(order_volume(total_cusum_h=40.0, detector=sequential_only)) == []
