"""The independent shop of ``benchmarks/foreign_shop.py``: its records are what the
contract accepts (but the few malformed ones it injects on purpose), every topic is
fed, and each injected incident really changes the data it names."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from alerts.model import datetime_to_ms
from benchmarks import foreign_shop
from benchmarks.foreign_shop import (
    DAY,
    OUTAGE,
    WAIT_SURGE,
    Shop,
    incidents,
    records,
    shop_rules,
)
from streams.contract.events import TOPICS
from streams.exceptions import ConfigError

pytestmark = pytest.mark.slow

SHOP = Shop(volume=0.1, days=17, seed=3, incidents=True)


@pytest.fixture(scope="module")
def recs() -> list[tuple[str, bytes, bytes]]:
    """The small shop's records (about 60,000)."""
    return records(SHOP)


@pytest.fixture(scope="module")
def run() -> foreign_shop.ShopRun:
    """The small shop replayed through the rules the benchmark uses by default."""
    return foreign_shop.replay_shop(SHOP, shop_rules(None), warmup_days=7)


def test_records_are_valid_but_the_injected_malformed_ones(
    recs: list[tuple[str, bytes, bytes]], run: foreign_shop.ShopRun
) -> None:
    """Only what the shop injects is dead-lettered: malformed times (0.05 %), duplicates
    (0.3 %) and events 10-60 min late (0.2 %, beyond the 2 min lateness); every topic is
    fed."""
    assert run.records == len(recs)
    reasons = Counter(run.dead_letters)
    assert set(reasons) <= {"bad_timestamp", "duplicate", "late"}, reasons
    assert reasons["duplicate"] > 0
    assert reasons["bad_timestamp"] < 0.002 * len(recs)
    assert reasons["late"] < 0.003 * len(recs)
    assert {topic for topic, _, _ in recs} == set(TOPICS)


def test_wait_surge_multiplies_the_queues_waits(recs: list[tuple[str, bytes, bytes]]) -> None:
    """Waits of the surging queue are several times longer inside the surge."""
    queue, start, span = WAIT_SURGE
    inside, before = [], []
    for topic, _, raw in recs:
        if topic != "wait-times":
            continue
        value = json.loads(raw)
        if value["queue"] != queue or not isinstance(value["ts"], int):
            continue
        if start <= value["ts"] < start + span:
            inside.append(value["wait_seconds"])
        elif start - DAY <= value["ts"] < start - DAY + span:
            before.append(value["wait_seconds"])
    assert len(inside) > 5
    assert sum(inside) / len(inside) > 2.5 * sum(before) / len(before)


def test_outage_halves_the_channels_orders(recs: list[tuple[str, bytes, bytes]]) -> None:
    """Placed orders of the channel fall to about half inside the outage."""
    channel, start, span = OUTAGE

    def placed(lo: int) -> int:
        return sum(
            1
            for topic, _, raw in recs
            if topic == "orders"
            and b'"placed"' in raw
            and (v := json.loads(raw))["channel"] == channel
            and isinstance(v["ts"], int)
            and lo <= v["ts"] < lo + span
        )

    usual = (placed(start - DAY) + placed(start - 7 * DAY)) / 2
    assert placed(start) < 0.75 * usual


def test_incidents_name_real_series(recs: list[tuple[str, bytes, bytes]]) -> None:
    """The damaged cell and the mis-sized SKU exist in the shop's orders."""
    damage, sizing = incidents(SHOP)[2:]
    region, carrier = damage.keys[0].split("=", 1)[1].split(",")
    sku = sizing.keys[0].split("=", 1)[1]
    seen_cell = seen_sku = False
    for topic, _, raw in recs:
        if topic == "orders":
            value = json.loads(raw)
            seen_cell |= value["region"] == region and value["carrier"] == carrier
            seen_sku |= value["sku"] == sku
    assert seen_cell and seen_sku


def test_incidents_are_the_same_with_or_without_the_records(
    recs: list[tuple[str, bytes, bytes]],
) -> None:
    """After :func:`records` the incidents come from the targets it picked; without it,
    from the orders drawn again: the same incidents either way."""
    after_records = incidents(SHOP)
    foreign_shop._TARGETS.pop(SHOP)
    assert incidents(SHOP) == after_records


def test_rules_run_in_the_shops_local_time(tmp_path: Path) -> None:
    """By default the shop runs the China rules (UTC+8); a given file and offset win."""
    assert shop_rules(None).utc_offset_ms == 8 * 3_600_000
    assert shop_rules(None, "0h").utc_offset_ms == 0
    custom = tmp_path / "rules.toml"
    custom.write_text(
        '[settings]\nutc_offset = "0h"\n[rules.order_volume]\nwindow = "15m"\n'
        'dimensions = ["total"]\n',
        encoding="utf-8",
    )
    rules = shop_rules(str(custom), "-5h")
    assert rules.utc_offset_ms == -5 * 3_600_000
    assert [rule.name for rule in rules.rules] == ["order_volume"]


def test_only_keeps_the_named_rules_and_replays_what_they_read(
    run: foreign_shop.ShopRun,
) -> None:
    """``--only``: those rules alone, on the topics they read, with no incident of the
    rules left out scored; a name the rules file lacks is refused by name."""
    rules = shop_rules(None, only=frozenset({"customer_order_burst", "shared_address"}))
    assert {rule.name for rule in rules.rules} == {"customer_order_burst", "shared_address"}
    with pytest.raises(ConfigError, match="no rule burst_of_nothing"):
        shop_rules(None, only=frozenset({"order_volume", "burst_of_nothing"}))
    alone = foreign_shop.replay_shop(SHOP, rules, warmup_days=7, only_read=True)
    assert alone.found == {}
    assert 0 < alone.records < run.records
    assert set(alone.dead_letters) <= set(run.dead_letters)
    volume = shop_rules(None, only=frozenset({"order_volume"}))
    outage = foreign_shop.replay_shop(SHOP, volume, warmup_days=7, only_read=True)
    assert list(outage.found) == ["checkout outage x0.5, 90 min"]
    assert outage.found == {k: v for k, v in run.found.items() if k in outage.found}


def test_replay_scores_false_episodes_outside_the_incidents(
    run: foreign_shop.ShopRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every episode the run calls false opened after the warm-up and names no injected
    incident's rule and key within its time; per-parcel traces are counted apart; and
    ``--json`` writes the same episodes as the summary counts."""
    injected = incidents(SHOP)
    assert set(run.found) == {i.name for i in injected}
    scored_from = foreign_shop.T0 + 7 * DAY
    for episode in run.false:
        started = datetime_to_ms(datetime.fromisoformat(str(episode["started_at"])))
        assert started >= scored_from
        assert not (episode["rule"] == "lost_parcel" and episode["dimension"] == "order")
        series = f"{episode['dimension']}={episode['key']}"
        assert not any(
            episode["rule"] in i.rules
            and series in i.keys
            and i.start_ms - foreign_shop.HOUR <= started < i.end_ms
            for i in injected
        ), episode
    assert sum(len(e) for _, e in run.by_rule()) == len(run.false)

    def the_run_above(
        shop: Shop, rules: object, warmup_days: int, *, only_read: bool = False
    ) -> foreign_shop.ShopRun:
        assert not only_read  # no --only
        assert (shop, warmup_days) == (SHOP, 7), "the command line names another run"
        return run  # the same replay, not a second one: only the writing is under test

    monkeypatch.setattr(foreign_shop, "replay_shop", the_run_above)
    monkeypatch.setattr(
        "sys.argv",
        [
            *("foreign_shop.py", "--volumes", "0.1", "--days", "17", "--seed", "3"),
            *("--incidents", "--json", str(tmp_path)),
        ],
    )
    foreign_shop.main()
    written = json.loads((tmp_path / "foreign-shop-seed3-0.1x.json").read_text("utf-8"))
    assert written["false"] == run.false
    assert written["incidents"] == run.found
    assert written["traces"] == run.traces


@pytest.mark.parametrize(
    ("text", "volumes"), [("0.3,1,3", [0.3, 1.0, 3.0]), ("0.3x, 1x,3x", [0.3, 1.0, 3.0])]
)
def test_volumes_read_as_numbers_or_multiples(text: str, volumes: list[float]) -> None:
    assert foreign_shop.parse_volumes(text) == volumes


@pytest.mark.parametrize("text", ["1y", "", "0", "nan", "1,,3", "200"])
def test_bad_volumes_are_refused_by_name(
    text: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["foreign_shop.py", "--volumes", text])
    with pytest.raises(SystemExit) as exited:
        foreign_shop.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--volumes:" in err and "Traceback" not in err
