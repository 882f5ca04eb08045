"""Scoring of the quality matrix: episodes, incident matching, oracle delay, band efficiency."""

from __future__ import annotations

import math
from typing import Any

import pytest

from benchmarks.matrix_scoring import (
    MS_PER_DAY,
    Episode,
    LognormalLag,
    arl0_evaluations,
    arriving_share,
    band_efficiency,
    episodes,
    false_episodes,
    kl_binomial,
    kl_lognormal_shift,
    kl_poisson,
    lagged_oracle_ms,
    oracle_evaluations,
    oracle_ms,
    sampling_sigma,
    score_incident,
    share_model_factor,
)

H = 3_600_000


class Event:
    """Just a topic, as :func:`benchmarks.quality_matrix._only` reads an event."""

    def __init__(self, topic: str) -> None:
        self.topic = topic


WINDOWS = {"order_volume": 15 * 60_000, "return_rate": MS_PER_DAY}


def _t(rule: str, dim: str, key: str) -> dict[str, str]:
    return {"rule": rule, "dimension": dim, "key": key, "direction": "up"}


def _label(**kw: Any) -> dict[str, Any]:
    base = {
        "id": "incident-1",
        "start_ms": 10 * H,
        "end_ms": 12 * H,
        "expected": [_t("order_volume", "channel", "app")],
        "related": [_t("order_volume", "total", "total")],
    }
    base.update(kw)
    return base


def _alert(
    aid: str, status: str, rule: str, dim: str, key: str, end: int, instant: bool = False
) -> dict[str, Any]:
    return {
        "alert_id": aid,
        "status": status,
        "rule": rule,
        "dimension": dim,
        "key": key,
        "window_end": end,
        "instant": instant,
    }


class TestEpisodes:
    def test_firing_then_resolved_is_one_episode(self) -> None:
        """An alert_id's first firing opens the episode, its resolved closes it."""
        eps = episodes(
            [
                _alert("a", "firing", "order_volume", "channel", "app", 5),
                _alert("a", "firing", "order_volume", "channel", "app", 6),
                _alert("a", "resolved", "order_volume", "channel", "app", 9),
            ],
            100,
        )
        assert [(e.opened_ms, e.closed_ms) for e in eps] == [(5, 9)]

    def test_open_episode_runs_to_the_end(self) -> None:
        """An episode never resolved ends at the end of the run."""
        (ep,) = episodes([_alert("a", "firing", "order_volume", "total", "total", 5)], 100)
        assert ep.closed_ms == 100

    def test_instant_alert_is_a_point(self) -> None:
        """A per-event alert is an episode of one instant."""
        (ep,) = episodes([_alert("b", "firing", "order_outlier", "order", "O-1", 7, True)], 100)
        assert (ep.opened_ms, ep.closed_ms, ep.instant) == (7, 7, True)


class TestIncidentMatching:
    def test_expected_target_inside_the_window_detects(self) -> None:
        """A first firing on an expected target after start detects; delay = window_end - start."""
        eps = [Episode("order_volume", "channel", "app", 10 * H + 30 * 60_000, 11 * H)]
        s = score_incident(
            _label(),
            eps,
            WINDOWS,
            kind="checkout_outage",
            magnitude="obvious",
            oracle_ms=15 * 60_000,
        )
        assert s.detected
        assert s.delay_ms == 30 * 60_000
        assert s.ratio == pytest.approx(2.0)

    @pytest.mark.parametrize(
        ("episode", "why"),
        [
            (Episode("order_volume", "channel", "web", 10 * H + 1, 11 * H), "other key"),
            (Episode("order_volume", "total", "total", 10 * H + 1, 11 * H), "related only"),
            (Episode("order_volume", "channel", "app", 10 * H, 11 * H), "not after start"),
            (Episode("order_volume", "channel", "app", 12 * H + 16 * 60_000, 13 * H), "too late"),
        ],
    )
    def test_misses(self, episode: Episode, why: str) -> None:
        """Wrong key, related target, at start or after end + one window: not detected."""
        s = score_incident(_label(), [episode], WINDOWS, kind="x", magnitude="obvious")
        assert not s.detected, why
        assert s.delay_ms is None

    def test_one_window_after_end_still_counts(self) -> None:
        """The window that closes up to one rule window after the end is credited."""
        eps = [Episode("order_volume", "channel", "app", 12 * H + 15 * 60_000, 13 * H)]
        assert score_incident(_label(), eps, WINDOWS, kind="x", magnitude="s").detected

    def test_return_incident_is_also_timed_from_its_first_extra_return(self) -> None:
        """A return-rate incident reports the delay from its first extra return too."""
        label = _label(
            expected=[_t("return_rate", "sku", "SKU-1")],
            first_extra_return_ms=11 * H,
            end_ms=40 * H,
        )
        eps = [Episode("return_rate", "sku", "SKU-1", 20 * H, 30 * H)]
        s = score_incident(
            label, eps, WINDOWS, kind="sizing_error", magnitude="subtle", oracle_ms=3 * H
        )
        assert (s.delay_ms, s.delay_from_first_extra_ms) == (10 * H, 9 * H)
        assert s.ratio == pytest.approx(3.0)


class TestFalseEpisodes:
    def test_related_target_overlapping_in_time_is_true(self) -> None:
        """An episode on a related target inside the span + grace is not false."""
        eps = [Episode("order_volume", "total", "total", 11 * H, 13 * H)]
        f = false_episodes(eps, [_label()], WINDOWS, 0, 2 * MS_PER_DAY)
        assert (f.episodes, f.false, f.precision) == (1, 0, 1.0)

    def test_related_target_opening_after_the_incident_is_false(self) -> None:
        """A related target moves with the incident, not after it: the shop's total
        opening an episode 7 h after a channel's outage ended is false (within the day's
        grace an expected target keeps); one window after the end is still related."""
        late = Episode("order_volume", "total", "total", 19 * H, 20 * H)
        just = Episode("order_volume", "total", "total", 12 * H + 15 * 60_000, 13 * H)
        f = false_episodes([late, just], [_label()], WINDOWS, 0, 2 * MS_PER_DAY)
        assert f.false_list == [late]
        expected_late = Episode("order_volume", "channel", "app", 19 * H, 20 * H)
        assert false_episodes([expected_late], [_label()], WINDOWS, 0, MS_PER_DAY).false == 0

    def test_wildcard_key_matches_any_key(self) -> None:
        """A related target with key '*' covers every key of its dimension."""
        label = _label(related=[_t("order_volume", "region", "*")])
        eps = [Episode("order_volume", "region", "UK", 11 * H, 12 * H)]
        assert false_episodes(eps, [label], WINDOWS, 0, MS_PER_DAY).false == 0

    def test_after_the_grace_period_is_false(self) -> None:
        """The same target a day and more after the end is a false episode."""
        eps = [
            Episode(
                "order_volume", "channel", "app", 12 * H + MS_PER_DAY + 1, 12 * H + MS_PER_DAY + H
            )
        ]
        f = false_episodes(eps, [_label()], WINDOWS, 0, 3 * MS_PER_DAY)
        assert f.false == 1
        assert f.false_per_day == pytest.approx(1 / 3)
        assert f.per_rule == {"order_volume": 1}

    def test_warm_up_episodes_are_not_counted(self) -> None:
        """Episodes opened before eval_from count neither as false nor in precision."""
        eps = [Episode("order_volume", "region", "UK", 1 * H, 2 * H)]
        f = false_episodes(eps, [], WINDOWS, 5 * H, MS_PER_DAY)
        assert (f.episodes, f.false) == (0, 0)
        assert math.isnan(f.precision)


class TestOracle:
    def test_issue_example_halving_of_30_orders(self) -> None:
        """Issue 16: a halving of 30 orders per 15-min window is found in about 2 windows."""
        kl = kl_poisson(30.0, 15.0)
        assert kl == pytest.approx(15 * math.log(0.5) + 15)
        arl0 = arl0_evaluations(15 * 60_000)
        assert arl0 == pytest.approx(2880.0)
        assert oracle_evaluations(kl, arl0) == pytest.approx(math.log(2880) / kl)
        assert 1.5 < oracle_evaluations(kl, arl0) < 2.0

    def test_issue_example_wait_surge_takes_one_window(self) -> None:
        """A x4 log-mean shift of 30 lognormal(0.7) waits: under one window, floored at one."""
        kl = kl_lognormal_shift(4.0, 0.7, 30)
        assert kl == pytest.approx(30 * math.log(4) ** 2 / (2 * 0.49))
        assert oracle_evaluations(kl, 2880.0) == 1.0
        assert oracle_ms(kl, 15 * 60_000) == 15 * 60_000

    def test_binomial_kl_is_n_times_bernoulli(self) -> None:
        """KL of a binomial share is n times the Bernoulli KL; zero for no change."""
        p, q = 0.02, 0.09
        one = q * math.log(q / p) + (1 - q) * math.log((1 - q) / (1 - p))
        assert kl_binomial(p, q, 40) == pytest.approx(40 * one)
        assert kl_binomial(p, p, 40) == 0.0

    def test_no_change_is_never_detectable(self) -> None:
        """KL 0 gives an infinite oracle delay."""
        assert oracle_evaluations(0.0, 2880.0) == math.inf

    @pytest.mark.parametrize("args", [(0.0, 1.0), (-1.0, 2.0), (1.0, -1.0)])
    def test_bad_poisson_means_name_the_fields(self, args: tuple[float, float]) -> None:
        """Invalid means raise a ValueError naming before/after."""
        with pytest.raises(ValueError, match="before, after"):
            kl_poisson(*args)


class TestBandEfficiency:
    def test_count_band_in_poisson_sigmas(self) -> None:
        """A count band 3 sqrt(lambda) above a baseline of 100 has efficiency 3."""
        assert band_efficiency("count", 100.0, 130.0, None) == pytest.approx(3.0)

    def test_share_band_in_binomial_sigmas(self) -> None:
        """A share band at p + 2 sqrt(p(1-p)/n) has efficiency 2."""
        sigma = math.sqrt(0.1 * 0.9 / 400)
        assert band_efficiency("share", 0.1, 0.1 + 2 * sigma, 400) == pytest.approx(2.0)

    def test_p90_standard_error_matches_a_lognormal_sample(self) -> None:
        """The p90 standard error formula agrees with simulated lognormal samples."""
        import numpy as np

        rng = np.random.default_rng(0)
        n, sigma = 40, 0.8
        p90s = np.quantile(rng.lognormal(0.0, sigma, (4000, n)), 0.9, axis=1)
        x_q = math.exp(sigma * 1.2815515655446004)
        predicted = sampling_sigma("p90", x_q, n, sigma)
        assert predicted is not None
        assert predicted == pytest.approx(float(p90s.std()), rel=0.2)

    @pytest.mark.parametrize(
        ("kind", "baseline", "upper", "n"),
        [
            ("count", None, 3.0, None),
            ("count", 2.0, None, None),
            ("share", 0.0, 0.1, 50),
            ("share", 0.1, 0.2, 0),
            ("p90", 100.0, 200.0, None),
            ("count", 0.0, 1.0, None),
        ],
    )
    def test_undefined_cases_give_none(
        self, kind: str, baseline: float | None, upper: float | None, n: int | None
    ) -> None:
        """No baseline, no band, p at 0 or no n: no efficiency rather than a crash."""
        assert band_efficiency(kind, baseline, upper, n) is None

    @pytest.mark.parametrize("factor", [1.0, 1.5])
    def test_share_model_factor_reads_the_arcsine_band(self, factor: float) -> None:
        """A share band drawn at z sigmas in the arcsine scale (times a model error
        factor) reads that factor, while in binomial sigmas of p the same band is wider:
        4.6 at p = 5 %, n = 25 with no model error (the transform's skew)."""
        p, n, z = 0.05, 25, 3.0
        width = z * factor * math.sqrt(1.0 / (4 * n + 2))
        upper = math.sin(math.asin(math.sqrt(p)) + width) ** 2
        assert share_model_factor(p, upper, n, z) == pytest.approx(factor)
        efficiency = band_efficiency("share", p, upper, n)
        assert efficiency is not None
        if factor == 1.0:
            assert efficiency == pytest.approx(4.6, abs=0.05)

    def test_share_model_factor_matches_the_engines_scale(self) -> None:
        """The factor reads the engine's own ratio scale (``thresholds.kinds``): a band drawn
        there at ``z`` sigmas of the window's sampling noise reads 1.00."""
        import numpy as np

        from thresholds.kinds import prepare, to_observed

        n, z = np.array([25.0, 200.0]), 3.0
        _, y, noise, _ = prepare("ratio", np.array([2.0, 30.0]), n, 1)
        baseline, upper = to_observed("ratio", y), to_observed("ratio", y + z * np.sqrt(noise))
        for b, u, size in zip(baseline, upper, n, strict=True):
            assert share_model_factor(float(b), float(u), float(size), z) == pytest.approx(1.0)

    @pytest.mark.parametrize(
        ("baseline", "upper", "n", "z"),
        [(None, 0.2, 50, 3.0), (0.1, None, 50, 3.0), (0.1, 0.2, 0, 3.0), (0.1, 1.2, 50, 3.0)],
    )
    def test_share_model_factor_undefined_gives_none(
        self, baseline: float | None, upper: float | None, n: int, z: float
    ) -> None:
        """Without a baseline, a band or an n, or with a share outside 0..1: None."""
        assert share_model_factor(baseline, upper, n, z) is None

    def test_unknown_kind_is_named(self) -> None:
        """An unknown metric kind raises a ValueError naming 'kind'."""
        with pytest.raises(ValueError, match="kind"):
            sampling_sigma("ratio", 0.5, 10)


class TestLaggedOracle:
    """The oracle of an incident that lasts a while and arrives with a lag."""

    @pytest.mark.parametrize("kl", [0.05, 0.7, 3.0, 50.0])
    def test_an_endless_step_is_the_step_oracle(self, kl: float) -> None:
        """No lag and no end: the same delay as ``log(ARL0) / KL`` (at least one hop)."""
        lagged = lagged_oracle_ms(lambda f: kl * f, 15 * 60_000, math.inf)
        assert lagged == pytest.approx(oracle_ms(kl, 15 * 60_000))

    def test_a_step_too_short_to_hold_the_evidence_is_never_found(self) -> None:
        """Half the evidence log(ARL0) needs, then the incident ends: infinite delay."""
        need = math.log(arl0_evaluations(15 * 60_000))
        per_hop = need / 8
        assert lagged_oracle_ms(lambda f: per_hop * f, 15 * 60_000, 1.0) == math.inf
        assert lagged_oracle_ms(lambda f: per_hop * f, 15 * 60_000, 3.0) == pytest.approx(
            8 * 15 * 60_000
        )

    def test_a_lag_delays_the_evidence(self) -> None:
        """Complaints 0.5-30 h after delivery: later than the step, sooner than the lag's end."""
        kl = lambda f: kl_poisson(2.0, 2.0 + 6.0 * f)  # noqa: E731 - one line each
        step = lagged_oracle_ms(kl, 3_600_000, 36.0)
        lagged = lagged_oracle_ms(kl, 3_600_000, 36.0, (0.5, 30.0))
        assert step < lagged < 30 * 3_600_000

    @pytest.mark.parametrize("lag", [None, (0.5, 30.0), (4.8, 48.0)])
    def test_every_extra_event_arrives_once(self, lag: tuple[float, float] | None) -> None:
        """Summed over the hops, the arriving share adds up to the span (in hours)."""
        span = 30.0
        total = sum(arriving_share(j, j + 1.0, span, lag) for j in range(120))
        assert total == pytest.approx(span, rel=1e-3)
        assert arriving_share(0.0, 0.5, span, (0.5, 30.0)) == 0.0

    def test_no_change_is_never_found(self) -> None:
        assert lagged_oracle_ms(lambda f: 0.0 * f, 60_000, math.inf) == math.inf

    def test_a_lognormal_lag_is_a_distribution(self) -> None:
        """Its CDF runs from 0 to 1 through 1/2 at the median of a single component."""
        lag = LognormalLag((0.1,), (1.0,), 0.8)
        assert lag.cdf(0.0) == 0.0
        assert lag.cdf(0.1) == pytest.approx(0.5)
        assert lag.cdf(lag.upper_h) == pytest.approx(1.0, abs=1e-3)
        mixed = LognormalLag((0.05, 0.5), (3.0, 1.0), 0.8)
        assert mixed.cdf(0.05) == pytest.approx(0.75 * 0.5 + 0.25 * mixed_tail(0.05, 0.5), abs=1e-9)

    def test_every_surged_wait_arrives_once(self) -> None:
        """Waits reported when they end: summed over the hops, the share adds up to the span."""
        lag = LognormalLag((0.05, 0.1, 0.4), (0.5, 0.3, 0.2), 0.8)
        total = sum(arriving_share(j * 0.25, (j + 1) * 0.25, 2.0, lag) for j in range(80))
        assert total == pytest.approx(2.0 / 0.25, rel=1e-3)

    def test_waits_that_end_later_are_found_later(self) -> None:
        """A surge seen when its waits end is found later than one seen at once, and later
        the longer the waits."""
        kl = lambda f: kl_lognormal_shift(4.0, 0.8, 2.0 * f)  # noqa: E731 - one line each
        at_once = lagged_oracle_ms(kl, 900_000, 2.0)
        short = lagged_oracle_ms(kl, 900_000, 2.0, LognormalLag((0.05,), (1.0,), 0.8))
        long = lagged_oracle_ms(kl, 900_000, 2.0, LognormalLag((0.5,), (1.0,), 0.8))
        assert at_once < short < long

    def test_the_matrix_wait_surges_are_timed_by_their_answers(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The matrix's wait surges carry the lag of their own waits (x4 of minutes): each
        one's oracle is later than if its waits were reported as they began."""
        from benchmarks import matrix_scenario
        from streams.rules.catalogue import load_rules

        def surges() -> list[float]:
            run = matrix_scenario.build_run("0.3x", 1, load_rules(None))
            return [m.oracle_ms for m in run.incidents if m.kind == "wait_surge"]

        lagged = surges()
        monkeypatch.setattr(matrix_scenario._Builder, "surge_waits", lambda *_: None)
        at_once = surges()
        assert len(lagged) == 2
        assert all(a < b < math.inf for a, b in zip(at_once, lagged, strict=True))


class TestEntityOracle:
    def test_many_series_share_the_false_alarm_budget(self) -> None:
        """Watching a million series at one false alarm in all needs more evidence per series."""
        kl = kl_poisson(0.001, 2.0)
        alone = oracle_ms(kl, 300_000)
        shared = oracle_ms(kl, 300_000, series=1e6)
        assert shared == pytest.approx(300_000 * math.log(8640 * 1e6) / kl)
        assert shared > alone


class TestCommandLine:
    def test_seed_lists_and_ranges(self) -> None:
        """'1-3,11' expands; an empty string means no seeds."""
        from benchmarks.quality_matrix import _seeds

        assert _seeds("1-3,11") == [1, 2, 3, 11]
        assert _seeds("") == []

    @pytest.mark.parametrize("text", ["x", "1-b", "-2"])
    def test_bad_seeds_are_named(self, text: str) -> None:
        """A bad seed list raises an argparse error naming 'seeds'."""
        import argparse

        from benchmarks.quality_matrix import _seeds

        with pytest.raises(argparse.ArgumentTypeError, match="seeds"):
            _seeds(text)

    def test_unknown_volume_is_named(self) -> None:
        """A volume outside 0.3x/1x/3x exits with a usage error naming --volumes."""
        from benchmarks.quality_matrix import main

        with pytest.raises(SystemExit) as exc:
            main(["--volumes", "5x"])
        assert exc.value.code == 2

    def test_report_volumes_run_before_the_big_tune_runs(self) -> None:
        """0.3x first, then REPORT by volume, then TUNE; 3x only for the named seeds."""
        import argparse

        from benchmarks.quality_matrix import _plan

        args = argparse.Namespace(
            tune_seeds=[1], seeds=[11], volumes=["0.3x", "1x", "3x"], seeds_3x=[11]
        )
        assert _plan(args) == [
            ("REPORT", 11, "0.3x"),
            ("TUNE", 1, "0.3x"),
            ("REPORT", 11, "1x"),
            ("REPORT", 11, "3x"),
            ("TUNE", 1, "1x"),
        ]


class TestTopics:
    """``--topics``: one family of rules, fed only its own topics."""

    def test_only_rules_reading_nothing_else_are_fed(self) -> None:
        """The wait rules read only wait-times; order and complaint rules are left out."""
        from benchmarks.quality_matrix import fed_rules
        from streams.rules.catalogue import load_rules

        rules = load_rules(None)
        fed = fed_rules(rules, frozenset({"wait-times"}))
        assert {"wait_time_p90", "wait_sla_breach_share"} <= fed
        assert not fed & {"order_volume", "complaint_rate", "return_rate"}
        assert fed_rules(rules, None) == {r.name for r in rules.rules}

    def test_only_the_topics_events_are_replayed(self) -> None:
        """Events of other topics are dropped; ``None`` keeps every event."""
        from benchmarks.quality_matrix import _only

        events = [Event(topic=t) for t in ("orders", "wait-times", "complaints", "wait-times")]
        assert [e.topic for e in _only(events, frozenset({"wait-times"}))] == ["wait-times"] * 2
        assert len(list(_only(events, None))) == 4

    def test_unknown_topic_is_named(self) -> None:
        """A topic outside the contract's input topics is refused, naming it."""
        import argparse

        from benchmarks.quality_matrix import _topics

        assert _topics("wait-times, orders") == {"wait-times", "orders"}
        with pytest.raises(argparse.ArgumentTypeError, match="waits"):
            _topics("waits")

    def test_any_expected_scores_incidents_the_family_shares(self) -> None:
        """A complaint spike expects complaint_volume and complaint_rate; under ``--topics
        complaints`` only the first is fed: scored with ``any_expected`` alone."""
        from benchmarks.quality_matrix import fed_rules, scored
        from streams.rules.catalogue import load_rules

        fed = fed_rules(load_rules(None), frozenset({"complaints"}))
        expected = {"complaint_volume", "complaint_rate"}
        assert "complaint_volume" in fed and "complaint_rate" not in fed
        assert not scored(expected, fed)
        assert scored(expected, fed, any_expected=True)
        assert not scored({"order_volume"}, fed, any_expected=True)

    def test_any_expected_needs_topics(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without ``--topics`` every rule is fed: the flag is refused, naming both."""
        from benchmarks.quality_matrix import main

        assert main(["--any-expected", "--quick"]) == 2
        assert "--any-expected: needs --topics" in capsys.readouterr().err

    def test_the_table_leaves_out_types_not_scored(self) -> None:
        """Only the incident types the run scored get rows."""
        from benchmarks.matrix_scoring import IncidentScore
        from benchmarks.quality_matrix import false_episodes, table

        score = IncidentScore("incident-1", "wait_surge", "obvious", True, 30 * 60_000, None, 1e6)
        cell = {
            "volume": "1x",
            "scores": [score],
            "false": false_episodes([], [], {}, 0, MS_PER_DAY),
            "false_in_promotion": 0,
            "false_busy_entity_bursts": 0,
        }
        text = table([cell], ["1x"], "title")
        assert "wait_surge" in text
        assert "checkout_outage" not in text


def test_band_table_prints_efficiency_and_its_model_error_factor() -> None:
    """Each row shows the median efficiency and the median efficiency over the rule's z."""
    from benchmarks.quality_matrix import band_table

    cells = [
        {
            "volume": "1x",
            "band": {"order_volume": [3.0, 3.6, 4.2]},
            "inflation": {"order_volume": [1.0, 1.2, 1.4]},
        }
    ]
    row = next(line for line in band_table(cells, ["1x"]).splitlines() if "order_volume" in line)
    assert "3.60 x 1.20 (n=    3)" in row


def test_declared_promotion_covers_the_run_promotion_and_a_week_after() -> None:
    from benchmarks.matrix_scenario import build_run
    from benchmarks.quality_matrix import declared_promotion
    from streams.rules.catalogue import load_rules

    run = build_run("0.3x", 1, load_rules(None))
    promo = run.promotion
    calendar = declared_promotion(run)
    day = 86_400_000
    peak = promo.start_ms + int((promo.ramp + promo.hold / 2).total_seconds() * 1000)
    assert [hit.phase for hit in calendar.phases(peak, peak + 1)] == ["event"]
    after = promo.end_ms + 3 * day
    assert [hit.phase for hit in calendar.phases(after, after + 1)] == ["aftermath"]
    assert calendar.phases(promo.end_ms + 8 * day, promo.end_ms + 8 * day + 1) == []
    assert calendar.events[0].uplift == pytest.approx(promo.peak, abs=0.01)


def mixed_tail(t_h: float, median_h: float, sigma: float = 0.8) -> float:
    """The log-normal CDF of one component, by hand."""
    return 0.5 * (1.0 + math.erf(math.log(t_h / median_h) / (sigma * math.sqrt(2.0))))


class TestRescore:
    """A saved run re-scored against today's oracles."""

    @staticmethod
    def _cell(incidents: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "volume": "0.3x",
            "seed": 1,
            "incidents": incidents,
            "false": {"episodes": 0, "false": 0, "days": 7.0, "per_rule": {}, "list": []},
        }

    def test_a_run_of_some_topics_is_rescored_by_incident_id(self) -> None:
        """A ``--topics wait-times`` run saves only the wait surges (incident-1 and -2):
        each gets its own oracle back, whatever the run's other incidents."""
        from benchmarks.matrix_rescore import rescored
        from benchmarks.matrix_scenario import build_run
        from streams.rules.catalogue import load_rules

        rules = load_rules(None)
        run = build_run("0.3x", 1, rules)
        saved = [
            {
                "id": f"incident-{i + 1}",
                "kind": run.incidents[i].kind,
                "magnitude": run.incidents[i].magnitude,
                "detected": False,
                "delay_ms": None,
                "delay_from_first_extra_ms": None,
                "oracle_ms": 1.0,
                "first": None,
            }
            for i in (0, 1)
        ]
        assert {s["kind"] for s in saved} == {"wait_surge"}
        cell = rescored(self._cell(saved), rules)
        assert [s.oracle_ms for s in cell["scores"]] == [m.oracle_ms for m in run.incidents[:2]]

    def test_another_incident_under_the_same_id_is_refused(self) -> None:
        """A saved incident that is not the run's incident of that id is named."""
        from benchmarks.matrix_rescore import rescored
        from streams.rules.catalogue import load_rules

        saved = {
            "id": "incident-1",
            "kind": "wrong_price",
            "magnitude": "obvious",
            "detected": False,
            "delay_ms": None,
            "delay_from_first_extra_ms": None,
            "oracle_ms": 1.0,
            "first": None,
        }
        with pytest.raises(ValueError, match="incident-1"):
            rescored(self._cell([saved]), load_rules(None))
