"""What the on-call configuration changes about one window close of one rule.

Size: what the calendar, mutes and feedback change about one window close, and the peer
normalisation of a calendar aftermath, which reads the same window plan.

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
learned.

A rule that judges its keys as shares of the total (``relative_to``) scales only the
total when the event's scope holds the total. The keys' shares move with the total and
hold still. A tracker on a share would only gather upward noise (``r`` is clipped at 1),
and it would keep the level a channel reached while another channel's outage sent it
orders, paging after both had recovered. Such keys are judged and learned as on any
day: a share the event leaves alone is safe to learn, while frozen shares of regions in
other time zones went stale over the event's day and paged.

From the event's start to the end of its aftermath, ``return_rate`` and
``complaint_rate`` series in scope are judged against their peers' wave in every window
and learn nothing (:mod:`streams.pipeline.peers`): a shop-wide return wave cancels, a key
breaking away from its peers fires. A key without a wave (``w`` at 1) is judged as on any
day, except that it does not learn. :func:`with_standing_peers` does the same for a rule
with ``relative_to = "peers"`` outside any event, in the windows whose peers rose together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from streams.pipeline.aggregate import TOTAL_KEY
from streams.pipeline.peers import (
    PEER_WIDEN,
    PeerKind,
    PeerShift,
    Series,
    de_wave,
    peer_factors,
    peer_spread,
    standing_shifts,
    unshift,
)
from streams.rules.calendar import Calendar, Hit
from streams.rules.mutes import MuteTable
from thresholds.decision import Decision
from thresholds.engine import Outcome

__all__ = ["OnCall", "WindowPlan", "with_standing_peers"]

#: Rules whose counts a calendar event scales, and rate rules normalised by peers.
SCALED_RULES: Final = frozenset({"order_volume"})
PEER_RULES: Final = frozenset({"return_rate", "complaint_rate"})
_TRACK_GAIN: Final = 0.5


@dataclass(slots=True)
class WindowPlan:
    """How one window close of one rule is judged (see the module docstring)."""

    values: npt.NDArray[np.float64]
    learn: npt.NDArray[np.bool_] | None = None
    z_scale: npt.NDArray[np.float64] | None = None
    #: Weight of each row's CUSUM evidence (1 as usual; peer-normalised rows ``1 / widen``).
    sequential: npt.NDArray[np.float64] | None = None
    #: What each row learns on top of its judged value (stabilised scale; a log-mean row
    #: judged against its peers learns the waits it saw, ``thresholds.engine.step``).
    learn_offset: npt.NDArray[np.float64] | None = None
    #: Row -> name of the mute (or the silencing calendar event) covering it.
    muted: dict[int, str] = field(default_factory=dict)
    #: Row -> factor applied to the baseline (the engine saw value / factor).
    factor: dict[int, float] = field(default_factory=dict)
    #: Row -> shift of a share in the stabilised scale (the engine saw ``g(p) - shift``).
    shift: dict[int, float] = field(default_factory=dict)
    #: Row -> the observed share of a shifted row (the engine saw another).
    raw: dict[int, float] = field(default_factory=dict)
    #: Row -> what a peer-normalised row's baseline was multiplied by (``w``).
    factor_tag: dict[int, float] = field(default_factory=dict)
    #: Row -> the range ``(low, high)`` a scaled row's event tracker stays in.
    bounds: dict[int, tuple[float, float]] = field(default_factory=dict)
    #: Row -> ``context.calendar`` of its alerts.
    calendar: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: Row -> ``context.peers`` of its alerts (``relative_to = "peers"``: wave and widening).
    peers: dict[int, dict[str, float]] = field(default_factory=dict)

    def move(self, row: int, moved: PeerShift, n: float, kind: PeerKind = "ratio") -> None:
        """Judge ``row`` (``n`` trials or events) against its peers' wave (see :mod:`.peers`):
        a share is shifted in the stabilised scale (its raw share, shift and factor kept
        for the report), a quantile divided by ``w`` and reported back times ``w``
        (``factor``); either way its CUSUM evidence weighs one over the widening. The
        caller widens its band."""
        if kind == "percentile":
            self.factor[row] = self.factor.get(row, 1.0) * moved.wave
        else:
            self.raw.setdefault(row, float(self.values[row] / n))
            self.shift[row] = self.shift.get(row, 0.0) + moved.delta
            self.factor_tag[row] = self.factor_tag.get(row, 1.0) * moved.wave
        self.values[row] = moved.value
        if self.sequential is None:
            self.sequential = np.ones(len(self.values))
        self.sequential[row] = 1.0 / moved.widen

    def decision(self, row: int, decision: Decision, *, reported: bool = False) -> Decision:
        """The row's decision in true units: observed, baseline and band times its factor,
        or (a peer-normalised share) moved back by its shift in the stabilised scale
        (``reported``: the observed value already is, a log-mean rule's window quantile)."""
        f = self.factor.get(row)
        if f is not None and f != 1.0:
            decision = replace(
                decision,
                observed=decision.observed if reported else decision.observed * f,
                baseline=None if decision.baseline is None else decision.baseline * f,
                lower=None if decision.lower is None else decision.lower * f,
                upper=None if decision.upper is None else decision.upper * f,
            )
        delta = self.shift.get(row)
        if delta is None or delta == 0.0:
            return decision
        observed = self.raw.get(row, decision.observed)
        return replace(
            decision,
            observed=observed,
            baseline=unshift(decision.baseline, delta),
            lower=unshift(decision.lower, delta),
            upper=unshift(decision.upper, delta),
        )


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

    def __init__(
        self,
        mutes: MuteTable,
        calendar: Calendar | None = None,
        sensitivity: dict[str, float] | None = None,
    ) -> None:
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
            if (
                hit.phase == "event"
                and rule in hit.event.silence
                and hit.event.in_scope(dimension, key)
            ):
                return hit.event.name
        return None

    def plan(
        self,
        rule: str,
        kind: str,
        start_ms: int,
        end_ms: int,
        series: Sequence[Series],
        values: npt.NDArray[np.float64],
        sizes: npt.NDArray[np.float64],
        min_sample: int,
        peek: Callable[[], Outcome],
        z: float = 3.0,
        *,
        shares: bool = False,
    ) -> WindowPlan | None:
        """The plan of one window, or ``None`` when nothing applies (``z``: the rule's band
        half-width in standard deviations; ``shares``: the rule judges every key but the
        total as its share of the total, ``relative_to``)."""
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
            self._apply(
                hit, rule, kind, series, sizes, (min_sample, z), peek, plan, learn, shares=shares
            )
        plan.learn = None if learn.all() else learn
        return plan

    def _apply(
        self,
        hit: Hit,
        rule: str,
        kind: str,
        series: Sequence[Series],
        sizes: npt.NDArray[np.float64],
        detector: tuple[int, float],
        peek: Callable[[], Outcome],
        plan: WindowPlan,
        learn: npt.NDArray[np.bool_],
        *,
        shares: bool,
    ) -> None:
        event = hit.event
        min_sample, z = detector
        rows = [
            row for row, (_, dimension, key) in enumerate(series) if event.in_scope(dimension, key)
        ]
        if not rows:
            return
        tag = {"event": event.name, "phase": hit.phase, "uplift": event.uplift}
        if hit.phase == "event" and rule in event.silence:
            for row in rows:
                plan.muted.setdefault(row, event.name)
                learn[row] = False
        baseline = None
        widen: dict[int, float] = {}
        peer: dict[int, float] = {}
        spread: dict[int, float] = {}
        if hit.phase == "event" and rule in SCALED_RULES and kind == "count":
            baseline = peek().baseline
            # Shares of a total the event lifts with them hold still: only the total scales.
            shares_hold = shares and event.in_scope("total", TOTAL_KEY)
            for row in rows:
                sid, dimension, _ = series[row]
                if shares_hold and dimension != "total":
                    continue
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
            outcome = peek()
            baseline = outcome.baseline
            by_dimension: dict[str, list[int]] = {}
            for row in rows:
                by_dimension.setdefault(series[row][1], []).append(row)
            for dim_rows in by_dimension.values():
                factors = peer_factors(plan.values, sizes, baseline, dim_rows, min_sample)
                by = max(
                    PEER_WIDEN, peer_spread(plan.values, sizes, outcome, factors, min_sample, z)
                )
                if plan.sequential is None:
                    plan.sequential = np.ones(len(series))
                for row in dim_rows:
                    learn[row] = False
                for row, w in factors.items():
                    peer[row] = w
                    b, n = baseline[row], sizes[row]
                    if w <= 1.0 or n <= 0 or not np.isfinite(b) or b <= 0:
                        continue
                    moved = de_wave(plan.values[row], n, b, w, by)
                    plan.move(row, moved, n)
                    widen[row] = spread[row] = moved.widen
        if widen:
            if plan.z_scale is None:
                plan.z_scale = np.ones(len(series))
            for row, by in widen.items():
                plan.z_scale[row] *= by
        for row in rows:
            entry = dict(tag)
            if row in plan.factor:
                entry["factor"] = round(plan.factor[row], 4)
            elif row in plan.factor_tag:
                entry["factor"] = round(plan.factor_tag[row], 4)
            if row in peer:
                entry["peer_factor"] = round(peer[row], 4)
            if row in spread:
                entry["peer_widen"] = round(spread[row], 3)
            plan.calendar.setdefault(row, []).append(entry)

    def after(
        self,
        rule: str,
        series: Sequence[Series],
        plan: WindowPlan | None,
        outcome: Outcome,
        raw_values: npt.NDArray[np.float64],
    ) -> None:
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


def with_standing_peers(
    plan: WindowPlan | None,
    series: Sequence[Series],
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    min_sample: int,
    peek: Callable[[], Outcome],
    z: float,
    kind: PeerKind = "ratio",
    noise: npt.NDArray[np.float64] | None = None,
) -> WindowPlan | None:
    """``plan`` (``None``: none yet) with the rows of a ``relative_to = "peers"`` window
    whose peers rose together judged against them, widened and not learned
    (:func:`streams.pipeline.peers.standing_shifts`); log-means (``noise``: their sampling
    variances) learn the values they saw instead (``WindowPlan.learn_offset``). Rows the
    calendar already moved keep its judgement. ``None`` when nothing applies and there was
    no plan."""
    judged = values if plan is None else plan.values
    shifts = standing_shifts(series, judged, sizes, peek(), min_sample, z, kind, noise)
    if plan is not None:
        shifts = {
            row: moved
            for row, moved in shifts.items()
            if row not in plan.shift and row not in plan.factor
        }
    if not shifts:
        return plan
    if plan is None:
        plan = WindowPlan(values.astype(np.float64, copy=True))
    learn = np.ones(len(series), np.bool_) if plan.learn is None else plan.learn.copy()
    scale = np.ones(len(series)) if plan.z_scale is None else plan.z_scale.copy()
    offset = None
    if noise is not None:  # log-means learn what they saw (a shift change recurs daily)
        offset = np.zeros(len(series)) if plan.learn_offset is None else plan.learn_offset.copy()
    for row, moved in shifts.items():
        seen = float(plan.values[row])
        plan.move(row, moved, sizes[row], kind)
        plan.peers[row] = {"factor": round(moved.wave, 4), "widen": round(moved.widen, 3)}
        scale[row] *= moved.widen
        if offset is None:
            learn[row] = False
        else:
            offset[row] = float(np.log1p(max(seen, 0.0)) - np.log1p(max(moved.value, 0.0)))
    plan.learn, plan.z_scale, plan.learn_offset = learn, scale, offset
    return plan
