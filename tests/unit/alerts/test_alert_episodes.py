"""Tests for alerts.episodes: the pure firing -> resolved lifecycle."""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.episodes import EpisodeState, advance, alert_id_for, instant_alert
from alerts.exceptions import AlertValidationError, DecisionError
from alerts.model import SeriesRef, datetime_to_ms
from alerts.text import AlertTexts
from thresholds.decision import Decision

DecisionFactory = Callable[..., Decision]
SERIES = SeriesRef("return_rate", "sku", "SKU-00042")
TEXTS = AlertTexts()
HOUR = 3_600_000
T0 = 1_793_610_900_000


def window(i: int) -> tuple[int, int]:
    """The i-th hourly window's (start, end) in ms."""
    return T0 + i * HOUR, T0 + (i + 1) * HOUR


class TestAlertId:
    def test_is_sha256_prefix(self) -> None:
        """The id is the first 16 hex chars of sha256 over rule|dimension|key|start."""
        raw = b"return_rate|sku|SKU-00042|1793614500000"
        assert alert_id_for(SERIES, 1_793_614_500_000) == hashlib.sha256(raw).hexdigest()[:16]

    def test_is_deterministic(self) -> None:
        """The same series and start always give the same id."""
        assert alert_id_for(SERIES, 5) == alert_id_for(SeriesRef(*SERIES), 5)

    @pytest.mark.parametrize(
        ("series", "start"),
        [
            (SeriesRef("return_rate", "sku", "SKU-00043"), 1),
            (SeriesRef("return_rate", "category", "SKU-00042"), 1),
            (SeriesRef("complaint_rate", "sku", "SKU-00042"), 1),
            (SERIES, 2),
        ],
    )
    def test_differs_per_series_and_start(self, series: SeriesRef, start: int) -> None:
        """Changing any part of the input changes the id."""
        assert alert_id_for(series, start) != alert_id_for(SERIES, 1)


class TestAdvance:
    def test_fire_opens_episode_and_emits_firing(self, make_decision: DecisionFactory) -> None:
        """A fire with no state emits one firing event and opens the episode."""
        state, events = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        assert [e.status for e in events] == ["firing"]
        assert state == EpisodeState(events[0].alert_id, window(0)[1], "critical", "up")

    def test_firing_event_fields(self, make_decision: DecisionFactory) -> None:
        """The firing event carries the decision's numbers, the window and texts."""
        _, (event,) = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        assert (event.observed, event.baseline, event.lower, event.upper) == (
            0.312, 0.098, 0.041, 0.156,
        )  # fmt: skip
        assert datetime_to_ms(event.window_start) == window(0)[0]
        assert event.started_at == event.window_end
        assert event.summary.startswith("Return rate for sku SKU-00042 is 31.2%")
        assert "SKU-00042" in event.runbook

    def test_fire_then_resolve_share_id_and_start(self, make_decision: DecisionFactory) -> None:
        """The resolved event has the firing event's alert_id and started_at."""
        state, (firing,) = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        resolve = make_decision(transition="resolve", alerting=False, violating=False)
        state, (resolved,) = advance(state, SERIES, resolve, *window(3), TEXTS)
        assert state is None
        assert resolved.status == "resolved"
        assert (resolved.alert_id, resolved.started_at) == (firing.alert_id, firing.started_at)
        assert datetime_to_ms(resolved.window_end) == window(3)[1]

    def test_resolve_keeps_episode_severity_and_direction(
        self, make_decision: DecisionFactory
    ) -> None:
        """The resolved event repeats the episode's severity and direction."""
        state, _ = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        resolve = make_decision(transition="resolve", severity=None, direction=None)
        _, (resolved,) = advance(state, SERIES, resolve, *window(1), TEXTS)
        assert (resolved.severity, resolved.direction) == ("critical", "up")

    def test_higher_severity_escalates_the_open_episode(
        self, make_decision: DecisionFactory
    ) -> None:
        """A later window past a higher severity emits firing again: same id and start,
        the new severity; the resolve then carries it. A lower one changes nothing."""
        first = make_decision(severity="info")
        state, (fired,) = advance(None, SERIES, first, *window(0), TEXTS)
        worse = make_decision(transition=None, severity="critical")
        state2, (escalated,) = advance(state, SERIES, worse, *window(1), TEXTS)
        assert (escalated.status, escalated.alert_id, escalated.started_at) == (
            "firing",
            fired.alert_id,
            fired.started_at,
        )
        assert escalated.severity == "critical" and state2 is not None
        assert state2.severity == "critical"
        milder = make_decision(transition=None, severity="warning")
        assert advance(state2, SERIES, milder, *window(2), TEXTS) == (state2, ())
        other_side = make_decision(transition=None, severity="critical", direction="down")
        assert advance(state, SERIES, other_side, *window(2), TEXTS)[1] == ()
        resolve = make_decision(transition="resolve", severity=None, direction=None)
        _, (resolved,) = advance(state2, SERIES, resolve, *window(3), TEXTS)
        assert (resolved.alert_id, resolved.severity) == (fired.alert_id, "critical")

    def test_duplicate_fire_ignored(self, make_decision: DecisionFactory) -> None:
        """Replaying the firing window emits nothing and keeps the state."""
        state, _ = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        again, events = advance(state, SERIES, make_decision(), *window(0), TEXTS)
        assert (again, events) == (state, ())

    def test_older_fire_ignored(self, make_decision: DecisionFactory) -> None:
        """A fire older than the open episode's start emits nothing."""
        state, _ = advance(None, SERIES, make_decision(), *window(5), TEXTS)
        again, events = advance(state, SERIES, make_decision(), *window(2), TEXTS)
        assert (again, events) == (state, ())

    def test_newer_fire_supersedes_open_episode(self, make_decision: DecisionFactory) -> None:
        """A later fire over an open episode resolves the old one, then fires anew."""
        state, (first,) = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        state, events = advance(state, SERIES, make_decision(), *window(4), TEXTS)
        assert [(e.status, e.alert_id == first.alert_id) for e in events] == [
            ("resolved", True),
            ("firing", False),
        ]
        assert state is not None and state.alert_id == events[1].alert_id

    def test_resolve_without_open_episode_ignored(self, make_decision: DecisionFactory) -> None:
        """A resolve with no state emits nothing."""
        assert advance(None, SERIES, make_decision(transition="resolve"), *window(0), TEXTS) == (
            None,
            (),
        )

    @pytest.mark.parametrize("alerting", [True, False])
    def test_no_transition_keeps_state(
        self, make_decision: DecisionFactory, alerting: bool
    ) -> None:
        """A decision without a transition changes nothing."""
        state, _ = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        decision = make_decision(transition=None, alerting=alerting)
        assert advance(state, SERIES, decision, *window(1), TEXTS) == (state, ())

    def test_explicit_started_at(self, make_decision: DecisionFactory) -> None:
        """started_at_ms (first violating window's end) sets started_at and the id."""
        first_end = window(1)[1]
        state, (event,) = advance(
            None, SERIES, make_decision(), *window(2), TEXTS, started_at_ms=first_end
        )
        assert datetime_to_ms(event.started_at) == first_end
        assert event.alert_id == alert_id_for(SERIES, first_end)
        assert state is not None and state.started_at_ms == first_end

    def test_live_and_replay_agree(self, make_decision: DecisionFactory) -> None:
        """Two runs over the same decisions produce byte-identical events."""

        def run() -> list[bytes]:
            out: list[bytes] = []
            state = None
            plan = [
                make_decision(),
                make_decision(transition=None),
                make_decision(transition="resolve", observed=0.1 + 0.2 - 0.2),
            ]
            for i, decision in enumerate(plan):
                state, events = advance(state, SERIES, decision, *window(i), TEXTS)
                out.extend(e.to_json() for e in events)
            return out

        assert run() == run()

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({"severity": None}, ("warning", "up")),
            ({"direction": None, "score": -2.0}, ("critical", "down")),
            ({"direction": None, "score": 2.0}, ("critical", "up")),
        ],
    )
    def test_fire_fallbacks(
        self,
        make_decision: DecisionFactory,
        overrides: dict[str, object],
        expected: tuple[str, str],
    ) -> None:
        """Missing severity defaults to warning; missing direction follows the score's sign."""
        _, (event,) = advance(None, SERIES, make_decision(**overrides), *window(0), TEXTS)
        assert (event.severity, event.direction) == expected

    def test_fire_without_baseline_is_an_engine_error(self, make_decision: DecisionFactory) -> None:
        """A fire during warm-up (no baseline) raises DecisionError."""
        with pytest.raises(DecisionError, match="baseline"):
            advance(None, SERIES, make_decision(baseline=None), *window(0), TEXTS)

    def test_resolve_without_baseline_uses_observed(self, make_decision: DecisionFactory) -> None:
        """A resolve after the band was lost still emits, with baseline = observed."""
        state, _ = advance(None, SERIES, make_decision(), *window(0), TEXTS)
        resolve = make_decision(transition="resolve", baseline=None, lower=None, upper=None)
        _, (event,) = advance(state, SERIES, resolve, *window(1), TEXTS)
        assert (event.baseline, event.lower, event.upper) == (0.312, None, None)

    def test_context_passed_through(self, make_decision: DecisionFactory) -> None:
        """context reaches the event."""
        ctx = {"top": [{"key": "too small", "share": 0.6}]}
        _, (event,) = advance(None, SERIES, make_decision(), *window(0), TEXTS, context=ctx)
        assert event.context == ctx


class TestAdvanceProperties:
    @given(
        st.lists(
            st.tuples(st.sampled_from(["fire", "resolve", None]), st.integers(0, 2)),
            max_size=30,
        )
    )
    def test_replayed_input_keeps_lifecycle_coherent(
        self, plan: list[tuple[str | None, int]]
    ) -> None:
        """Under any transitions with replays, each id fires once, then resolves at most once."""
        state: EpisodeState | None = None
        seen: dict[str, list[str]] = {}
        i = 0
        for transition, replays in plan:
            decision = replace_decision(transition)
            for _ in range(replays + 1):
                state, events = advance(state, SERIES, decision, *window(i), TEXTS)
                for event in events:
                    seen.setdefault(event.alert_id, []).append(event.status)
            i += 1
        assert all(statuses in (["firing"], ["firing", "resolved"]) for statuses in seen.values())
        open_ids = [a for a, statuses in seen.items() if statuses == ["firing"]]
        assert open_ids == ([] if state is None else [state.alert_id])


def replace_decision(transition: str | None) -> Decision:
    """A violating decision with the given transition."""
    return Decision(
        0.3,
        0.1,
        0.05,
        0.15,
        3.0,
        0.9,
        50,
        True,
        True,
        "up",
        "warning",
        transition != "resolve",
        transition,
    )  # type: ignore[arg-type]


class TestInstantAlert:
    def test_emits_firing_at_event_time(self, make_decision: DecisionFactory) -> None:
        """A violating per-event decision gives one firing event with a zero-length window."""
        series = SeriesRef("order_outlier", "order", "O-1")
        event = instant_alert(series, make_decision(transition=None), T0, TEXTS)
        assert event is not None
        assert event.status == "firing" and event.is_instant
        assert datetime_to_ms(event.started_at) == T0
        assert event.alert_id == alert_id_for(series, T0)

    def test_not_violating_emits_nothing(self, make_decision: DecisionFactory) -> None:
        """A normal order gives no alert."""
        decision = make_decision(violating=False, transition=None, alerting=False)
        assert (
            instant_alert(SeriesRef("order_outlier", "order", "O-1"), decision, T0, TEXTS) is None
        )

    def test_amount_unit_used(self, make_decision: DecisionFactory) -> None:
        """order_outlier summaries format amounts."""
        decision = make_decision(observed=4520.0, baseline=89.0, lower=None, upper=250.0)
        event = instant_alert(SeriesRef("order_outlier", "order", "O-1"), decision, T0, TEXTS)
        assert event is not None
        assert "4,520.00" in event.summary and "upper limit 250.00" in event.summary


class TestEpisodeState:
    STATE = EpisodeState("93544e9743f84af0", 1_793_614_500_000, "warning", "down")

    def test_bytes_round_trip(self) -> None:
        """from_bytes(to_bytes(s)) == s."""
        assert EpisodeState.from_bytes(self.STATE.to_bytes()) == self.STATE

    def test_bytes_are_stable(self) -> None:
        """The encoding is compact sorted JSON."""
        assert self.STATE.to_bytes() == (
            b'{"alert_id":"93544e9743f84af0","direction":"down",'
            b'"severity":"warning","started_at_ms":1793614500000}'
        )

    def test_pickle_and_deepcopy_round_trip(self) -> None:
        """Pickle and deepcopy preserve the state."""
        assert pickle.loads(pickle.dumps(self.STATE)) == self.STATE
        assert copy.deepcopy(self.STATE) == self.STATE

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            (b'{"alert_id":"a","direction":"up","severity":"warning"}', "started_at_ms"),
            (b'{"alert_id":"a","direction":"up","severity":"x","started_at_ms":1}', "severity"),
            (b'{"alert_id":"a","direction":"x","severity":"info","started_at_ms":1}', "direction"),
            (b'{"alert_id":"","direction":"up","severity":"info","started_at_ms":1}', "alert_id"),
            (
                b'{"alert_id":"a","direction":"up","severity":"info","started_at_ms":"1"}',
                "started_at_ms",
            ),
            (b"[]", "<root>"),
            (b"nope", "<root>"),
        ],
    )
    def test_bad_bytes_rejected(self, raw: bytes, field: str) -> None:
        """Malformed state raises AlertValidationError naming the field."""
        with pytest.raises(AlertValidationError) as info:
            EpisodeState.from_bytes(raw)
        assert info.value.field == field
