"""Log-mean rules with strata (``strata = "channel"``, issue 16): each channel's waits are
judged at the queue's usual channel mix, with the spread within a channel. The partial's
strata sums, their wire and snapshot forms, the rules-file field, and the effect through
the replay pipeline: a busy email hour is no surge, a doubling of every wait is."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from streams.contract.validation import decode_event
from streams.pipeline import log_mean
from streams.pipeline.aggregate import Partial, SealedPartial, SourceAggregator
from streams.pipeline.replay import ReplayPipeline
from streams.pipeline.strata import MAX_STRATA, OTHER_STRATUM, Strata, add, units
from streams.pipeline.strata import UNIT as STRATUM_UNIT
from streams.pipeline.wire import decode, pack_partials
from streams.rules.catalogue import ConfigError, RuleSet, parse_rules
from thresholds.sketch import QuantileSketch

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z, a Monday
#: Median wait by channel (seconds), their usual shares, and the spread within a channel.
MEDIAN = {"chat": 40.0, "phone": 75.0, "email": 240.0}
SHARES = {"chat": 0.4, "phone": 0.4, "email": 0.2}
SIGMA = 0.8


def rules(strata: bool = True, statistic: str = "log_mean") -> RuleSet:
    table: dict[str, Any] = {
        "window": "30m",
        "hop": "15m",
        "dimensions": ["queue"],
        "statistic": statistic,
        "detector": {
            "sensitivity": "medium",
            "direction": "up",
            "persistence": [2, 3],
            "resolve_after": 2,
            "min_sample_size": 2,
            "grace_period": 96,
        },
    }
    if strata:
        table["strata"] = "channel"
    return parse_rules({"rules": {"wait_time_p90": table}})


def strata_of(values: dict[str, list[float]]) -> Strata:
    """Strata sums as the aggregator keeps them."""
    out: Strata = {}
    for name, xs in values.items():
        for x in xs:
            add(out, name, units(x))
    return out


def sketch_of(values: list[float]) -> QuantileSketch:
    out = QuantileSketch()
    for v in values:
        out.add(v)
    return out


def draw(rng: np.random.Generator, n: int, shares: dict[str, float], factor: float = 1.0):
    channels = rng.choice(list(shares), size=n, p=list(shares.values()))
    by: dict[str, list[float]] = {}
    for channel in channels:
        wait = factor * MEDIAN[channel] * float(np.exp(rng.normal(0.0, SIGMA)))
        by.setdefault(str(channel), []).append(wait)
    return by


def learned_memory(rng: np.random.Generator, windows: int = 200) -> log_mean.SpreadMemory:
    memory = log_mean.SpreadMemory()
    for _ in range(windows):
        by = draw(rng, 30, SHARES)
        w = log_mean.window(
            ["q"], [sketch_of([x for xs in by.values() for x in xs])], 0.9, memory, [strata_of(by)]
        )
        memory.learn(w)
    return memory


class TestWindow:
    def test_spread_within_channels_sets_the_noise(self) -> None:
        """The learned spread is the within-channel one (0.8), not the whole queue's (~1.1)."""
        memory = learned_memory(np.random.default_rng(1))
        spread, _ = memory.prior("q")
        assert math.sqrt(spread) == pytest.approx(SIGMA, abs=0.06)
        plain = log_mean.SpreadMemory()
        rng = np.random.default_rng(1)
        for _ in range(200):
            by = draw(rng, 30, SHARES)
            plain.learn(
                log_mean.window(
                    ["q"], [sketch_of([x for xs in by.values() for x in xs])], 0.9, plain
                )
            )
        assert math.sqrt(plain.prior("q")[0]) > SIGMA + 0.15

    def test_a_mix_of_more_email_moves_no_statistic(self) -> None:
        """Three times the email share: the plain log-mean rises by ~0.5 log units, the
        stratified one stays at the usual mix's level."""
        rng = np.random.default_rng(2)
        memory = learned_memory(rng)
        email_heavy = {"chat": 0.2, "phone": 0.2, "email": 0.6}
        moved, plain = [], []
        for _ in range(50):
            by = draw(rng, 40, email_heavy)
            values = [x for xs in by.values() for x in xs]
            w = log_mean.window(["q"], [sketch_of(values)], 0.9, memory, [strata_of(by)])
            moved.append(math.log1p(float(w.values[0])))
            plain.append(float(np.mean(np.log1p(values))))
        levels = memory.levels["q"]
        overall = sum(t for _, t in levels.values()) / sum(w for w, _ in levels.values())
        assert np.mean(moved) == pytest.approx(overall, abs=0.08)
        assert np.mean(plain) - overall > 0.4

    def test_a_doubling_stands_further_out_with_strata(self) -> None:
        """Every wait x2: the stratified statistic's z is larger than the plain one's."""
        rng = np.random.default_rng(3)
        memory = learned_memory(rng)
        plain_memory = log_mean.SpreadMemory({"q": (1.1**2 * 1000, 1000.0)})
        levels = memory.levels["q"]
        overall = sum(t for _, t in levels.values()) / sum(w for w, _ in levels.values())
        z_strata, z_plain = [], []
        for _ in range(50):
            by = draw(rng, 30, SHARES, factor=2.0)
            values = [x for xs in by.values() for x in xs]
            w = log_mean.window(["q"], [sketch_of(values)], 0.9, memory, [strata_of(by)])
            z_strata.append((math.log1p(float(w.values[0])) - overall) / math.sqrt(w.noise[0]))
            p = log_mean.window(["q"], [sketch_of(values)], 0.9, plain_memory)
            z_plain.append((math.log1p(float(p.values[0])) - overall) / math.sqrt(p.noise[0]))
        assert np.median(z_strata) > 1.2 * np.median(z_plain)
        assert np.median(z_strata) > 3.0

    def test_one_channel_is_the_plain_statistic(self) -> None:
        """A queue of one channel (or events without one) is judged as without strata."""
        values = [30.0, 60.0, 90.0, 200.0]
        memory = log_mean.SpreadMemory()
        with_strata = log_mean.window(
            ["q"], [sketch_of(values)], 0.9, memory, [strata_of({"": values})]
        )
        plain = log_mean.window(["q"], [sketch_of(values)], 0.9, log_mean.SpreadMemory())
        assert with_strata.values.tolist() == plain.values.tolist()
        assert with_strata.noise.tolist() == plain.noise.tolist()

    def test_forget_drops_spread_and_levels(self) -> None:
        memory = learned_memory(np.random.default_rng(4), windows=5)
        memory.forget("q")
        assert "q" not in memory.table and "q" not in memory.levels


def wait(i: int, ts: int, channel: str | None, seconds: float) -> tuple[str, bytes, bytes]:
    value: dict[str, Any] = {
        "event_id": f"w{i}",
        "ts": ts,
        "ticket_id": f"T{i}",
        "queue": "q",
        "wait_seconds": round(seconds, 1),
    }
    if channel is not None:
        value["channel"] = channel
    return "wait-times", f"T{i}".encode(), json.dumps(value).encode()


class TestPartial:
    def _sealed(self, records: list[tuple[str, bytes, bytes]]) -> dict[int, Partial]:
        agg = SourceAggregator("wait-times/0", "wait-times", rules())
        for offset, (topic, _, value) in enumerate(records):
            agg.add(decode_event(topic, value), offset)
        agg.add(decode_event(*wait(999, T0 + 3 * HOUR, "chat", 1.0)[::2]), len(records))
        return {s.window_start_ms: s.partial for s in agg.seal() if s.dimension == "queue"}

    def test_sums_per_channel_in_whole_units(self) -> None:
        records = [wait(1, T0 + MIN, "chat", 30.0), wait(2, T0 + 2 * MIN, "email", 300.0)]
        records.append(wait(3, T0 + 3 * MIN, None, 60.0))
        partial = self._sealed(records)[T0]
        y = {v: round(math.log1p(v) * STRATUM_UNIT) for v in (30.0, 300.0, 60.0)}
        assert partial.strata == {
            "chat": [1.0, y[30.0], y[30.0] ** 2],
            "email": [1.0, y[300.0], y[300.0] ** 2],
            "": [1.0, y[60.0], y[60.0] ** 2],
        }

    def test_a_flood_of_channel_values_folds_into_other(self) -> None:
        records = [wait(i, T0 + i * 1000, f"c{i}", 10.0 + i) for i in range(MAX_STRATA + 5)]
        partial = self._sealed(records)[T0]
        assert partial.strata is not None and len(partial.strata) == MAX_STRATA + 1
        assert partial.strata[OTHER_STRATUM][0] == 5.0
        assert sum(s[0] for s in partial.strata.values()) == MAX_STRATA + 5

    def test_merge_is_exact_in_any_order(self) -> None:
        rng = np.random.default_rng(5)
        parts = [Partial(strata=strata_of(draw(rng, 7, SHARES))) for _ in range(6)]
        forward, backward = Partial(), Partial()
        for p in parts:
            forward.merge(p)
        for p in reversed(parts):
            backward.merge(p)
        assert forward.strata == backward.strata
        assert forward.rich

    def test_strata_cross_the_wire(self) -> None:
        records = [wait(1, T0 + MIN, "chat", 30.0), wait(2, T0 + 2 * MIN, "phone", 90.0)]
        partial = self._sealed(records)[T0]
        sealed = SealedPartial(
            "wait-times/0", "wait_time_p90", "queue", "q", T0, T0 + 30 * MIN, partial
        )
        [(_, record)] = list(pack_partials([sealed], 1))
        [back] = decode(record)
        assert back.partial.strata == partial.strata
        assert Partial.from_dict(partial.to_dict()).strata == partial.strata


class TestRulesFile:
    def test_strata_names_an_event_field(self) -> None:
        assert rules().rules[0].strata == "channel"
        assert rules(strata=False).rules[0].strata is None

    def test_only_log_mean_rules_have_strata(self) -> None:
        with pytest.raises(ConfigError, match=r"wait_time_p90\.strata"):
            rules(statistic="quantile")

    @pytest.mark.parametrize("bad", ["sku", "total", 3, ["channel"]])
    def test_unknown_strata_are_refused_with_the_field(self, bad: Any) -> None:
        table = {"statistic": "log_mean", "strata": bad}
        with pytest.raises(ConfigError, match=r"wait_time_p90\.strata"):
            parse_rules({"rules": {"wait_time_p90": table}})


def traffic(
    days: int, seed: int, *, start_h: float, hours: float, shares: dict[str, float], factor: float
) -> Iterator[tuple[str, bytes, bytes]]:
    """~30 waits per 30 min of a queue of three channels; from day ``days - 1`` at
    ``start_h`` for ``hours``, the channel ``shares`` and every wait x ``factor``."""
    rng = np.random.default_rng(seed)
    t, i = T0, 0
    start = T0 + (days - 1) * 24 * HOUR + int(start_h * HOUR)
    end = start + int(hours * HOUR)
    while t < T0 + days * 24 * HOUR:
        t += int(rng.exponential(MIN))
        i += 1
        inside = start <= t < end
        mix = shares if inside else SHARES
        channel = str(rng.choice(list(mix), p=list(mix.values())))
        seconds = (
            (factor if inside else 1.0) * MEDIAN[channel] * float(np.exp(rng.normal(0.0, SIGMA)))
        )
        yield wait(i, t, channel, seconds)


def fired(rule_set: RuleSet, records: list[tuple[str, bytes, bytes]]) -> list[int]:
    pipeline = ReplayPipeline(rule_set, partitions=2)
    return [
        int(a.window_end.timestamp() * 1000) for a in pipeline.run(records) if a.status == "firing"
    ]


class TestThroughTheReplay:
    def test_a_busy_email_afternoon_is_no_surge(self) -> None:
        """Three hours of three times the usual email share, waits as usual: the plain
        log-mean pages, the stratified one does not."""
        records = list(
            traffic(
                4,
                11,
                start_h=13,
                hours=3,
                shares={"chat": 0.2, "phone": 0.2, "email": 0.6},
                factor=1.0,
            )
        )
        assert fired(rules(), records) == []
        assert fired(rules(strata=False), records)

    def test_a_doubling_of_every_wait_fires_within_an_hour(self) -> None:
        records = list(traffic(4, 12, start_h=13, hours=2, shares=SHARES, factor=2.0))
        surge = T0 + 3 * 24 * HOUR + 13 * HOUR
        first = fired(rules(), records)
        assert first and surge < first[0] <= surge + HOUR

    def test_levels_survive_a_closer_snapshot(self) -> None:
        records = list(traffic(2, 13, start_h=0, hours=0, shares=SHARES, factor=1.0))
        first = ReplayPipeline(rules(), partitions=2)
        list(first.run(records))
        snapshot = first.closer.snapshot()
        assert first.closer.spreads.levels, "no level learned"
        restored = ReplayPipeline(rules(), partitions=2)
        restored.closer.restore(snapshot)
        assert restored.closer.snapshot() == snapshot
        assert restored.closer.spreads.levels == first.closer.spreads.levels
