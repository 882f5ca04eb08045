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
``complaint_rate`` series in scope are judged peer-relative: per dimension and series,
the wave factor ``w`` is the median, weighted by denominator, of ``rate / baseline``
over the *other* series with enough data (leave-one-out: a best seller with a sizing
error must not be its own peer), floored at 1. The series is then judged against
``w x baseline`` with its usual band width in the engine's variance-stabilised scale
``g(p) = arcsin(sqrt(p))`` (Anscombe 1948), where a share's sampling noise does not grow
with its level: the engine sees the rate ``p'`` with ``g(p') = g(p) - (g(w b) - g(b))``,
and nothing is learned. The band (and CUSUM threshold) is widened by ``PEER_WIDEN``
(``w`` is an estimate) or by the peers' own scatter around their wave, whichever is
larger (:func:`_peer_spread`), in full from a wave of ``PEER_FULL_WAVE`` and in
proportion below it (:func:`_widening`): what is not known about a key's own share of the
wave is as small as the wave. The window's CUSUM evidence is weighted by one over the
widening (a row gathers only a deviation beyond ``k x widening`` sigmas: a key's own
wave differs a little from its peers' for the whole aftermath, which the CUSUM would
otherwise add up day after day), so only a key breaking away from its peers fires. A
key without a wave (``w`` at 1) is judged as on any day, except that it does not
learn. Dividing the
rate by ``w`` instead widens the band ``sqrt(w)`` times and compresses high rates:
harmless for the plain return rate's waves (``w`` ~ 1.5), it swallowed a x4 sizing
error under the lag-aware rate, whose early returns move ~2.5 times as much (``w`` ~ 3-4).
The wave is taken as a common multiplier of each key's usual rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from streams.pipeline.aggregate import TOTAL_KEY
from streams.rules.calendar import Calendar, Hit
from streams.rules.mutes import MuteTable
from thresholds.decision import Decision
from thresholds.engine import Outcome
from thresholds.kinds import to_observed

__all__ = ["OnCall", "WindowPlan"]

#: Rules whose counts a calendar event scales, and rate rules normalised by peers.
SCALED_RULES: Final = frozenset({"order_volume"})
PEER_RULES: Final = frozenset({"return_rate", "complaint_rate"})
#: Fewest series with data a dimension needs for a peer factor.
MIN_PEERS: Final = 3
#: Least band (and CUSUM threshold) multiplier of peer-normalised rows: the wave factor
#: is an estimate from the same window. Measured (tests/unit/scenarios/test_calendar.py,
#: lag-aware rate): 1.25 let one small SKU with a chance excess fire after four days; 1.5
#: none, the sizing error 6 h later. With bands at the sampling noise (windows settle,
#: ``RuleSpec.settle_ms``) 1.5 and 2.0 both let it fire by CUSUM at full weight, hence a
#: peer row's CUSUM evidence weighs one over its widening (``WindowPlan.sequential``).
PEER_WIDEN: Final = 1.5
#: Wave factor from which a peer-normalised row gets its full widening (see _widening).
PEER_FULL_WAVE: Final = 1.5
_TRACK_GAIN: Final = 0.5

Series = tuple[str, str, str]
"""``(series id, dimension, key)``."""


@dataclass(slots=True)
class WindowPlan:
    """How one window close of one rule is judged (see the module docstring)."""

    values: npt.NDArray[np.float64]
    learn: npt.NDArray[np.bool_] | None = None
    z_scale: npt.NDArray[np.float64] | None = None
    #: Weight of each row's CUSUM evidence (1 as usual; peer-normalised rows ``1 / widen``).
    sequential: npt.NDArray[np.float64] | None = None
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

    def decision(self, row: int, decision: Decision) -> Decision:
        """The row's decision in true units: observed, baseline and band times its factor,
        or (a peer-normalised share) moved back by its shift in the stabilised scale."""
        f = self.factor.get(row)
        if f is not None and f != 1.0:
            decision = replace(
                decision,
                observed=decision.observed * f,
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
            baseline=_unshift(decision.baseline, delta),
            lower=_unshift(decision.lower, delta),
            upper=_unshift(decision.upper, delta),
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
                factors = _peer_factors(plan.values, sizes, baseline, dim_rows, min_sample)
                by = max(
                    PEER_WIDEN, _peer_spread(plan.values, sizes, outcome, factors, min_sample, z)
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
                    p = plan.values[row] / n
                    delta = _stab(min(w * b, 1.0)) - _stab(b)
                    plan.raw.setdefault(row, float(p))
                    plan.values[row] = n * float(
                        to_observed("ratio", np.asarray(max(_stab(p) - delta, 0.0)))
                    )
                    plan.shift[row] = plan.shift.get(row, 0.0) + delta
                    plan.factor_tag[row] = plan.factor_tag.get(row, 1.0) * w
                    widen[row] = spread[row] = _widening(by, w)
                    plan.sequential[row] = 1.0 / widen[row]
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


def _peer_factors(
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    baseline: npt.NDArray[np.float64],
    rows: list[int],
    min_sample: int,
) -> dict[int, float]:
    """Row -> wave factor of its peers: the denominator-weighted median of ``rate / baseline``
    over the other rows with enough data (at least ``MIN_PEERS`` of them); rows without
    enough data of their own are judged against the median of all."""
    ratio, weight, members = [], [], []
    for row in rows:
        den, b = sizes[row], baseline[row]
        if den >= max(min_sample, 1) and np.isfinite(b) and b > 0:
            ratio.append(values[row] / den / b)
            weight.append(float(den))
            members.append(row)
    if len(members) < MIN_PEERS:
        return {}
    order = np.argsort(np.asarray(ratio), kind="stable")
    q = np.asarray(ratio)[order]
    cum = np.cumsum(np.asarray(weight)[order])
    total = float(cum[-1])
    every = float(q[min(int(np.searchsorted(cum, total / 2)), len(q) - 1)])
    out = dict.fromkeys(rows, every)
    if len(members) - 1 < MIN_PEERS:
        for row in members:
            del out[row]
        return out
    for j, i in enumerate(order.tolist()):
        w_i = weight[i]
        half = (total - w_i) / 2
        k = int(np.searchsorted(cum, half))
        if k >= j:  # the median lies past the left-out row: skip its weight
            k = max(int(np.searchsorted(cum, half + w_i)), j + 1)
        out[members[i]] = float(q[min(k, len(q) - 1)])
    return out


def _peer_spread(
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    outcome: Outcome,
    factors: dict[int, float],
    min_sample: int,
    z: float,
) -> float:
    """How much more the peers scatter around their wave than their bands allow: the robust
    standard deviation ``1.4826 x median |z_i|`` of the peers' standardised deviations
    ``z_i = (g(p_i) - g(w_i b_i)) / sigma_i`` (``sigma_i`` read off the row's band as the
    engine peeked it, ``z`` sigmas wide, before any feedback scaling), the
    dispersion factor of quasi-likelihood (McCullagh & Nelder 1989, sec. 4.5). It is about 1
    when the wave is a common multiplier; a wave that moves some keys more than others
    (e.g. the same extra returns per delivery on items that usually return less) widens
    every band of the dimension by it, so only a key beyond the peers' own scatter fires."""
    devs = []
    for row, w in factors.items():
        n, b, upper = sizes[row], outcome.baseline[row], outcome.upper[row]
        if n < max(min_sample, 1) or not (np.isfinite(b) and np.isfinite(upper)):
            continue
        if not 0 < b < upper < 1:
            continue
        half = (_stab(upper) - _stab(b)) / z
        devs.append(abs(_stab(values[row] / n) - _stab(min(w * b, 1.0))) / half)
    if len(devs) < MIN_PEERS:
        return 1.0
    return 1.4826 * float(np.median(devs))


def _widening(by: float, w: float) -> float:
    """A row's band multiplier for a wave factor ``w``: ``by`` in full from a wave of
    ``PEER_FULL_WAVE``, none without a wave, linear in between. The widening stands for
    what is not known about the row's own share of the wave, which is as small as the
    wave: with ``w`` about 1.0-1.1 a full 1.9 (the peers' scatter at 20 deliveries a
    window) hid a +29 pp sizing error for two days (quality matrix, TUNE seed 1, 1x)."""
    return 1.0 + (by - 1.0) * min(1.0, max(w - 1.0, 0.0) / (PEER_FULL_WAVE - 1.0))


def _stab(p: float) -> float:
    """The engine's variance-stabilised scale of a share (:func:`thresholds.kinds.prepare`)."""
    return float(np.arcsin(np.sqrt(min(max(p, 0.0), 1.0))))


def _unshift(value: float | None, delta: float) -> float | None:
    """A share of the engine's scale moved back up by ``delta`` in the stabilised scale."""
    if value is None or not np.isfinite(value):
        return value
    return float(to_observed("ratio", np.asarray(_stab(value) + delta)))
