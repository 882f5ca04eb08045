"""What the on-call configuration changes about one window close of one rule.

:class:`OnCall` combines the mute timings (:mod:`streams.rules.mutes`), the promotion
calendar (:mod:`streams.rules.calendar`) and the feedback sensitivity multipliers
(:mod:`streams.pipeline.feedback`) into a :class:`WindowPlan`: the values the engine judges,
which rows learn, each row's band multiplier, which rows are muted, and the
``context.calendar`` of each row. The closer applies it; pure code, no I/O.

During a calendar event, each ``order_volume`` series in scope is judged against
its baseline times a factor ``f`` (the engine sees ``observed / f``; the decision
reports the true value with baseline and band times ``f``)::

    r = observed / baseline                  (this window, before learning)
    f = min(uplift, max(r, tracker))         (uplift >= 1; mirrored below 1)
    tracker += 0.5 * (clip(r, 1, uplift) - tracker)   after each window not out of band

so a ramp up to the declared uplift is absorbed as it happens, while a sudden drop
(an outage) is judged against the level the event had reached. The window is not
learned. From the event's start to the end of its aftermath, ``return_rate`` and
``complaint_rate`` series in scope are judged peer-relative: per dimension, the
wave factor ``w`` is the median over series with enough data (weighted by
denominator) of ``rate / baseline``, floored at 1, and each series is judged as
``rate / w`` without learning, with its band and CUSUM threshold widened by
``PEER_WIDEN`` (``w`` is an estimate), so only a key breaking away from its peers
fires. The wave is taken as a common multiplier of each key's usual rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from streams.rules.calendar import Calendar, Hit
from streams.rules.mutes import MuteTable
from thresholds.decision import Decision
from thresholds.engine import Outcome

__all__ = ["OnCall", "WindowPlan"]

#: Rules whose counts a calendar event scales, and rate rules normalised by peers.
SCALED_RULES: Final = frozenset({"order_volume"})
PEER_RULES: Final = frozenset({"return_rate", "complaint_rate"})
#: Fewest series with data a dimension needs for a peer factor.
MIN_PEERS: Final = 3
#: Band (and CUSUM threshold) multiplier of peer-normalised rows: the wave factor is an
#: estimate from the same window, whose error adds to each row's noise.
PEER_WIDEN: Final = 1.25
_TRACK_GAIN: Final = 0.5

Series = tuple[str, str, str]
"""``(series id, dimension, key)``."""


@dataclass(slots=True)
class WindowPlan:
    """How one window close of one rule is judged (see the module docstring)."""

    values: npt.NDArray[np.float64]
    learn: npt.NDArray[np.bool_] | None = None
    z_scale: npt.NDArray[np.float64] | None = None
    #: Row -> name of the mute (or the silencing calendar event) covering it.
    muted: dict[int, str] = field(default_factory=dict)
    #: Row -> factor applied to the baseline (the engine saw value / factor).
    factor: dict[int, float] = field(default_factory=dict)
    #: Row -> the range ``(low, high)`` a scaled row's event tracker stays in.
    bounds: dict[int, tuple[float, float]] = field(default_factory=dict)
    #: Row -> ``context.calendar`` of its alerts.
    calendar: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def decision(self, row: int, decision: Decision) -> Decision:
        """The row's decision in true units (observed, baseline and band times its factor)."""
        f = self.factor.get(row)
        if f is None or f == 1.0:
            return decision
        return replace(decision, observed=decision.observed * f,
                       baseline=None if decision.baseline is None else decision.baseline * f,
                       lower=None if decision.lower is None else decision.lower * f,
                       upper=None if decision.upper is None else decision.upper * f)


class OnCall:
    """Mutes, calendar and feedback for one closer.

    Parameters
    ----------
    mutes
        The rules file's mute timings.
    calendar
        The promotion calendar (empty: none).
    sensitivity
        Series id -> band multiplier from on-call feedback (missing: 1).
    """

    def __init__(self, mutes: MuteTable, calendar: Calendar | None = None,
                 sensitivity: dict[str, float] | None = None) -> None:
        self.mutes = mutes
        self.calendar = calendar or Calendar()
        self.sensitivity = sensitivity if sensitivity is not None else {}
        #: Series id -> the level factor an ongoing event reached (snapshotted).
        self.trackers: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self.mutes) or bool(self.calendar) or bool(self.sensitivity)

    def muted_event(self, rule: str, dimension: str, key: str, ts_ms: int) -> str | None:
        """The mute (or silencing event) covering a per-event alert at ``ts_ms``."""
        for mute in self.mutes.active(rule, ts_ms, ts_ms + 1):
            if mute.matches(dimension, key):
                return mute.name
        for hit in self.calendar.phases(ts_ms, ts_ms + 1):
            if (hit.phase == "event" and rule in hit.event.silence
                    and hit.event.in_scope(dimension, key)):
                return hit.event.name
        return None

    def plan(self, rule: str, kind: str, start_ms: int, end_ms: int, series: Sequence[Series],
             values: npt.NDArray[np.float64], sizes: npt.NDArray[np.float64],
             min_sample: int, peek: Callable[[], Outcome]) -> WindowPlan | None:
        """The plan of one window, or ``None`` when nothing applies."""
        mutes = self.mutes.active(rule, start_ms, end_ms)
        hits = self.calendar.phases(start_ms, end_ms) if self.calendar else []
        scale = None
        if self.sensitivity:
            scale = np.array([self.sensitivity.get(sid, 1.0) for sid, _, _ in series])
            if not (scale != 1.0).any():
                scale = None
        if not mutes and not hits and scale is None:
            return None
        plan = WindowPlan(values.astype(np.float64, copy=True), z_scale=scale)
        learn = np.ones(len(series), np.bool_)
        for row, (_, dimension, key) in enumerate(series):
            for mute in mutes:
                if mute.matches(dimension, key):
                    plan.muted[row] = mute.name
                    learn[row] &= mute.train
                    break
        for hit in hits:
            self._apply(hit, rule, kind, series, sizes, min_sample, peek, plan, learn)
        plan.learn = None if learn.all() else learn
        return plan

    def _apply(self, hit: Hit, rule: str, kind: str, series: Sequence[Series],
               sizes: npt.NDArray[np.float64], min_sample: int, peek: Callable[[], Outcome],
               plan: WindowPlan, learn: npt.NDArray[np.bool_]) -> None:
        event = hit.event
        rows = [row for row, (_, dimension, key) in enumerate(series)
                if event.in_scope(dimension, key)]
        if not rows:
            return
        tag = {"event": event.name, "phase": hit.phase, "uplift": event.uplift}
        if hit.phase == "event" and rule in event.silence:
            for row in rows:
                plan.muted.setdefault(row, event.name)
                learn[row] = False
        baseline = None
        widen: dict[int, float] = {}
        if hit.phase == "event" and rule in SCALED_RULES and kind == "count":
            baseline = peek().baseline
            for row in rows:
                sid = series[row][0]
                b = baseline[row]
                if not np.isfinite(b) or b <= 0:
                    continue
                r = plan.values[row] / b
                tracker = self.trackers.get(sid, 1.0)
                if event.uplift >= 1:
                    f = min(event.uplift, max(r, tracker))
                else:
                    f = max(event.uplift, min(r, tracker))
                f = max(f, 1e-6)
                plan.values[row] /= f
                plan.factor[row] = plan.factor.get(row, 1.0) * f
                plan.bounds[row] = (min(1.0, event.uplift), max(1.0, event.uplift))
                learn[row] = False
        elif rule in PEER_RULES and kind == "ratio":
            baseline = peek().baseline
            by_dimension: dict[str, list[int]] = {}
            for row in rows:
                by_dimension.setdefault(series[row][1], []).append(row)
            for dim_rows in by_dimension.values():
                w = _peer_factor(plan.values, sizes, baseline, dim_rows, min_sample)
                for row in dim_rows:
                    learn[row] = False
                    if w is not None and w > 1.0:
                        plan.values[row] /= w
                        plan.factor[row] = plan.factor.get(row, 1.0) * w
                        widen[row] = PEER_WIDEN
                if w is not None:
                    tag = {**tag, "peer_factor": round(w, 4)}
        if widen:
            if plan.z_scale is None:
                plan.z_scale = np.ones(len(series))
            for row, by in widen.items():
                plan.z_scale[row] *= by
        for row in rows:
            entry = dict(tag)
            if row in plan.factor:
                entry["factor"] = round(plan.factor[row], 4)
            plan.calendar.setdefault(row, []).append(entry)

    def after(self, rule: str, series: Sequence[Series], plan: WindowPlan | None,
              outcome: Outcome, raw_values: npt.NDArray[np.float64]) -> None:
        """Move each scaled series' tracker after its window was decided (not on a window
        out of band, so an outage keeps being judged against the event's level); forget
        the trackers of series no longer in an event."""
        if rule not in SCALED_RULES:
            return
        for row, (sid, _, _) in enumerate(series):
            bounds = None if plan is None else plan.bounds.get(row)
            if bounds is None:
                self.trackers.pop(sid, None)
                continue
            if outcome.violating[row]:
                continue
            b = outcome.baseline[row]
            if not np.isfinite(b) or b <= 0:
                continue
            r = raw_values[row] / b
            lo, hi = bounds
            tracker = self.trackers.get(sid, 1.0)
            self.trackers[sid] = tracker + _TRACK_GAIN * (min(max(r, lo), hi) - tracker)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state (the trackers)."""
        return {"trackers": dict(sorted(self.trackers.items()))}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Load :meth:`snapshot` output (``None``: nothing)."""
        self.trackers = {k: float(v) for k, v in (state or {}).get("trackers", {}).items()}


def _peer_factor(values: npt.NDArray[np.float64], sizes: npt.NDArray[np.float64],
                 baseline: npt.NDArray[np.float64], rows: list[int],
                 min_sample: int) -> float | None:
    """Denominator-weighted median of ``rate / baseline`` over rows with enough data."""
    pairs = []
    for row in rows:
        den, b = sizes[row], baseline[row]
        if den >= max(min_sample, 1) and np.isfinite(b) and b > 0:
            pairs.append((values[row] / den / b, den))
    if len(pairs) < MIN_PEERS:
        return None
    pairs.sort()
    half, acc = sum(w for _, w in pairs) / 2, 0.0
    for q, w in pairs:
        acc += w
        if acc >= half:
            return float(q)
    return float(pairs[-1][0])
