"""The China example rules stay the shipped defaults in Beijing time (no drift), and
its runbook override keeps naming the right thing."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from alerts.locales import Locale
from alerts.text import AlertTexts
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import parse_rules

CHINA = Path(__file__).resolve().parents[2] / "deploy" / "rules" / "china.toml"


def test_china_rules_are_the_defaults_with_utc_plus_8() -> None:
    default = tomllib.loads(
        resources.files("streams").joinpath("default_rules.toml").read_text(encoding="utf-8")
    )
    china = tomllib.loads(CHINA.read_text(encoding="utf-8"))
    assert china["settings"].pop("utc_offset") == "8h"
    default["settings"].pop("utc_offset")
    china["rules"]["order_outlier"].pop("runbook")  # the example of a runbook override
    assert china == default


MIN = 60_000
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z


def _orders() -> Iterator[tuple[str, bytes, bytes]]:
    """Twelve hours of SKU-1 at 50.00 every ten minutes; at 08:00 three orders at 5.00."""
    i = 0
    for minute in range(0, 12 * 60, 10):
        for amount in [50.0] if minute != 8 * 60 else [50.0, 5.0, 5.0, 5.0]:
            i += 1
            value = {
                "event_id": f"e{i}",
                "ts": T0 + minute * MIN + i,
                "order_id": f"O-{i}",
                "status": "placed",
                "customer_id": f"C-{i}",
                "sku": "SKU-1",
                "category": "shoes",
                "quantity": 1,
                "amount": amount,
            }
            yield "orders", f"O-{i}".encode(), json.dumps(value).encode()


@pytest.mark.parametrize(("locale", "sku_words"), [("en", "sku SKU-1"), ("zh_CN", "商品 SKU-1")])
def test_price_episode_names_the_sku(locale: Locale, sku_words: str) -> None:
    """With the China file's order_outlier runbook (it names an order), each per-order alert
    names its order, and the one episode per SKU that pages names the SKU, in either
    locale: the episode's text is the catalogue's ``sku.runbook``, never the order text."""
    document = tomllib.loads(CHINA.read_text(encoding="utf-8"))
    document["rules"] = {"order_outlier": document["rules"]["order_outlier"]}
    pipeline = ReplayPipeline(parse_rules(document), partitions=2, texts=AlertTexts(locale=locale))
    alerts = [a for a in pipeline.run(_orders()) if a.rule == "order_outlier"]
    orders = [a for a in alerts if a.dimension == "order"]
    assert sorted(a.key for a in orders) == ["O-50", "O-51", "O-52"]
    for alert in orders:
        assert f"订单 {alert.key} " in alert.runbook  # the file's override, per order
    episodes = [a for a in alerts if a.dimension == "sku"]
    assert [(a.status, a.key) for a in episodes] == [("firing", "SKU-1"), ("resolved", "SKU-1")]
    for episode in episodes:
        assert sku_words in episode.runbook and sku_words in episode.summary
        assert "订单 SKU" not in episode.runbook and "order SKU" not in episode.runbook
        assert "O-50, O-51, O-52" in episode.runbook
