"""Serialisation of per-series state."""

from __future__ import annotations

import copy
import json
import pickle
import struct
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresholds import STATE_BYTES, Detector, DetectorConfig, SeriesState, StateMismatchError

floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
states = st.builds(
    SeriesState,
    state_key=st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
    n=st.integers(0, 2**62),
    last_ts=st.none() | st.integers(-(2**62), 2**62),
    spacing=floats,
    level=floats,
    var=floats,
    noise=floats,
    hour=st.tuples(*[floats] * 24),
    weekday=st.tuples(*[floats] * 7),
    history=st.integers(0, 2**32 - 1),
    alerting=st.booleans(),
    calm=st.integers(0, 2**31 - 1),
    run=st.integers(-(2**31), 2**31 - 1),
    episode_direction=st.sampled_from([-1, 0, 1]),
    cusum_up=floats,
    cusum_down=floats,
    hour_pending=floats,
    drift=floats,
    drift_var=floats,
)


def _fields(state: SeriesState) -> dict[str, object]:
    return {**asdict(state), "hour": state.hour, "weekday": state.weekday}


def _trained() -> SeriesState:
    det = Detector(DetectorConfig(kind="count", grace_period=4))
    state = det.new_state()
    rng = np.random.default_rng(0)
    for t in range(500):
        det.update(state, t * 600_000, float(rng.poisson(12)))
    return state


class TestSeriesState:
    @settings(max_examples=60, deadline=None)
    @given(state=states)
    def test_bytes_round_trip(self, state: SeriesState) -> None:
        """Any state survives to_bytes/from_bytes exactly."""
        assert SeriesState.from_bytes(state.to_bytes()) == state

    @settings(max_examples=60, deadline=None)
    @given(state=states)
    def test_json_round_trip(self, state: SeriesState) -> None:
        """Any state survives to_json/from_json exactly."""
        assert SeriesState.from_json(state.to_json()) == state

    def test_pickle_and_deepcopy(self) -> None:
        """A trained state survives pickle and deepcopy exactly."""
        state = _trained()
        assert pickle.loads(pickle.dumps(state)) == state
        assert copy.deepcopy(state) == state

    def test_size_bound(self) -> None:
        """A state with its seasonal profile takes STATE_BYTES <= 4096 bytes."""
        blob = _trained().to_bytes()
        assert len(blob) == STATE_BYTES <= 4096
        assert len(_trained().to_json().encode()) <= 4096

    def test_restored_state_continues_identically(self) -> None:
        """A detector resumed from bytes gives the same decisions as one never stopped."""
        det = Detector(DetectorConfig(kind="count", grace_period=4))
        a = _trained()
        b = SeriesState.from_bytes(a.to_bytes())
        for t in range(500, 520):
            assert det.step(a, t * 600_000, 30.0) == det.step(b, t * 600_000, 30.0)

    def test_states_before_the_drift_decode(self) -> None:
        """A state written before the drift (346 bytes, ``ATS3``) decodes with everything
        it held and a drift not learned yet (0, 0)."""
        state = _trained()
        old = struct.Struct("<4s8sqqdddd24d7dIBiibddd").pack(
            b"ATS3",
            state.state_key.encode(),
            state.n,
            state.last_ts,
            state.spacing,
            state.level,
            state.var,
            state.noise,
            *state.hour,
            *state.weekday,
            state.history,
            int(state.alerting),
            state.calm,
            state.run,
            state.episode_direction,
            state.cusum_up,
            state.cusum_down,
            state.hour_pending,
        )
        assert len(old) == 346
        restored = SeriesState.from_bytes(old)
        assert restored.drift == restored.drift_var == 0.0
        assert restored == SeriesState(**{**_fields(state), "drift": 0.0, "drift_var": 0.0})
        legacy = {k: v for k, v in json.loads(state.to_json()).items() if not k.startswith("drift")}
        assert SeriesState.from_json(json.dumps(legacy)).drift_var == 0.0

    def test_garbage_bytes_rejected(self) -> None:
        """Bytes that are not a state raise StateMismatchError."""
        with pytest.raises(StateMismatchError):
            SeriesState.from_bytes(b"nope")

    def test_foreign_state_rejected(self) -> None:
        """A detector refuses a state saved under another configuration's key."""
        state = Detector(DetectorConfig(kind="ratio")).new_state()
        with pytest.raises(StateMismatchError):
            Detector(DetectorConfig(kind="count")).score(state, 0, 1.0)
