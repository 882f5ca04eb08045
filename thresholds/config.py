"""One detector configuration: the metric kind, band, warm-up and alert policy.

A :class:`DetectorConfig` is immutable and validated on construction; every
error names the field. Its :attr:`~DetectorConfig.state_key` changes whenever a
parameter changes what a stored state means (kind, timezone offset), so a
state saved under one meaning is never read under another.

Examples
--------
>>> cfg = DetectorConfig(kind="ratio", sensitivity="high", direction="up")
>>> cfg.z
2.5
>>> DetectorConfig(kind="count", persistence=(3, 2))
Traceback (most recent call last):
...
ValueError: persistence must be (n, m) with 1 <= n <= m <= 32, got (3, 2)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

from thresholds.sensitivity import Sensitivity, z_threshold

__all__ = ["DetectorConfig", "MetricKind", "Policy", "WatchDirection"]

MetricKind = Literal["count", "ratio", "percentile"]
WatchDirection = Literal["up", "down", "both"]
Policy = Literal["cusum", "persistence"]

_KINDS = ("count", "ratio", "percentile")
_DIRECTIONS = ("up", "down", "both")


def _fail(field: str, expect: str, got: object) -> None:
    msg = f"{field} must be {expect}, got {got!r}"
    raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Parameters of a windowed detector (one per rule).

    Parameters
    ----------
    kind
        ``"count"`` (events per window), ``"ratio"`` (numerator/denominator per
        window) or ``"percentile"`` (a quantile of the window's values).
    sensitivity
        ``"low"``, ``"medium"``, ``"high"`` or a number of standard deviations.
    direction
        Which side of the band is watched: ``"up"``, ``"down"`` or ``"both"``.
    grace_period
        Windows with data needed before the detector is ``ready`` (warm-up).
        Skipped when a ``prior`` is given.
    half_life
        Half-life, in windows, of the level and variance estimates.
    seasonal_half_life_days
        Half-life, in days (time-of-day slots) or weeks (day-of-week slots), of
        the seasonal profile.
    clip_sigma
        Residuals are winsorised at ``clip_sigma`` standard deviations before
        they update the baseline (anti-poisoning, Huber-style).
    shift_after
        Consecutive out-of-band windows on the same side after which the new
        level is accepted as a lasting level shift.
    shift_rate
        Fraction of the gap to the observation closed per window once a level
        shift is accepted (the pace of adaptation).
    policy
        ``"cusum"`` (default): fire on sequential evidence, a one-sided CUSUM of the
        standardised residuals per side (Page 1954), so a sustained modest shift fires
        in bounded time and a one-window blip does not; ``persistence`` and
        ``fire_immediately_at`` stay as the fast path for clear exceedances.
        ``"persistence"``: only the latter (``n`` of the last ``m`` windows out of band).
    cusum_k
        CUSUM reference value in standard deviations: half the shift it is tuned to
        catch fastest (1.0: a shift of two sigma; drifts under one sigma, which model
        error alone produces, never accumulate).
    cusum_h
        CUSUM decision interval. For independent N(0, 1) residuals the run length
        between false alarms is about ``(exp(2k(h+1.166)) - 2k(h+1.166) - 1) / (2k^2)``
        windows (Siegmund 1985): with k = 1, h = 4 -> ~15,000 and h = 6 -> ~840,000.
        Real residuals are not independent (a seasonal profile still learning makes
        neighbours alike), which is why the default is far from the textbook need;
        the measured rates are in ``tests/unit/thresholds/test_detector.py``.
    cusum_direction
        The sides the sequential test fires on (``up``, ``down`` or ``both``; only
        the watched ones count). E.g. ``down`` for order volume: a promotion ramps up
        slowly enough to fool a CUSUM, while an outage is a drop.
    overlap
        ``window / hop`` of the rule: overlapping windows share events, so CUSUM
        increments are divided by ``sqrt(overlap)`` (set by the rules layer).
    persistence
        ``(n, m)``: fire when ``n`` of the last ``m`` windows violate; with overlapping
        windows, of the last ``m`` windows that share no events (``overlap`` apart).
    fire_immediately_at
        A single window at least this many band half-widths past the centre
        (``|z| >= fire_immediately_at * z``) fires without waiting for persistence.
    resolve_below
        A window is calm when ``|z| < resolve_below * z`` (hysteresis: stricter than
        the band edge).
    resolve_after
        Consecutive calm windows needed to resolve an episode.
    severity_steps
        ``(warning, critical)`` in units of ``|z| / z``; below the first is info.
    guard_above
        Up-violations count only when the observed value exceeds this (e.g. never
        page on a p90 wait below 120 s).
    guard_below
        Down-violations count only when the observed value is below this.
    min_sample_size
        Windows with fewer events (ratio denominator, percentile count) carry no
        evidence and leave the state untouched.
    prior
        Baseline used from the first window (observed units, e.g. 0.2 for a
        20 % share); it weighs as ``grace_period`` windows of history.
    prior_spread
        Standard deviation around the prior in the kind's stabilised scale.
    min_scale
        Floor of the standard deviation in the stabilised scale.
    utc_offset_ms
        Offset added to timestamps before they are mapped to hour and weekday.
    slot_lag_ms
        How far before its timestamp (its end) a window's hour-of-day slot is read and
        learned; the rules layer sets half the window for windows less than an hour
        apart, so a window is filed under the hour its middle falls in. A 30-minute
        window ending 23:00 then teaches the 22:00 slot what it saw, not the 23:00 slot
        where the next shift's windows go (a shift change at 23:00 otherwise mixes two
        regimes in one slot). The weekday slot is read at the timestamp. Not part of
        ``state_key``: a state saved without the lag moves one or two of an hour's
        windows to the slot before and re-learns them within the seasonal half-life.
    """

    kind: MetricKind = "count"
    sensitivity: Sensitivity = "medium"
    direction: WatchDirection = "both"
    grace_period: int = 24
    half_life: float = 96.0
    seasonal_half_life_days: float = 2.0
    clip_sigma: float = 3.0
    shift_after: int = 12
    shift_rate: float = 0.2
    policy: Policy = "cusum"
    cusum_k: float = 1.0
    cusum_h: float = 6.0
    cusum_direction: WatchDirection = "both"
    overlap: float = 1.0
    persistence: tuple[int, int] = (2, 3)
    fire_immediately_at: float = 1.5
    resolve_below: float = 0.75
    resolve_after: int = 2
    severity_steps: tuple[float, float] = (1.5, 2.0)
    guard_above: float | None = None
    guard_below: float | None = None
    min_sample_size: int = 1
    prior: float | None = None
    prior_spread: float = 0.0
    min_scale: float = 1e-3
    utc_offset_ms: int = 0
    slot_lag_ms: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            _fail("kind", "one of count/ratio/percentile", self.kind)
        z_threshold(self.sensitivity)
        if self.direction not in _DIRECTIONS:
            _fail("direction", "one of up/down/both", self.direction)
        if not isinstance(self.grace_period, int) or self.grace_period < 1:
            _fail("grace_period", "an int >= 1", self.grace_period)
        for name in ("half_life", "seasonal_half_life_days", "clip_sigma", "min_scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                _fail(name, "a finite number > 0", value)
        if not isinstance(self.shift_after, int) or self.shift_after < 1:
            _fail("shift_after", "an int >= 1", self.shift_after)
        if not 0.0 < self.shift_rate <= 1.0:
            _fail("shift_rate", "in (0, 1]", self.shift_rate)
        if self.policy not in ("cusum", "persistence"):
            _fail("policy", "one of cusum/persistence", self.policy)
        for name in ("cusum_k", "cusum_h"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                _fail(name, "a finite number >= 0", value)
        if self.cusum_h <= 0:
            _fail("cusum_h", "a number > 0", self.cusum_h)
        if self.cusum_direction not in _DIRECTIONS:
            _fail("cusum_direction", "one of up/down/both", self.cusum_direction)
        if not math.isfinite(self.overlap) or self.overlap < 1.0:
            _fail("overlap", "a number >= 1", self.overlap)
        n, m = self.persistence
        if not (1 <= n <= m <= 32):
            _fail("persistence", "(n, m) with 1 <= n <= m <= 32", self.persistence)
        if not self.fire_immediately_at >= 1.0:
            _fail("fire_immediately_at", "a number >= 1", self.fire_immediately_at)
        if not 0.0 < self.resolve_below <= 1.0:
            _fail("resolve_below", "in (0, 1]", self.resolve_below)
        if not isinstance(self.resolve_after, int) or self.resolve_after < 1:
            _fail("resolve_after", "an int >= 1", self.resolve_after)
        warn, crit = self.severity_steps
        if not 1.0 <= warn <= crit:
            _fail(
                "severity_steps",
                "(warning, critical) with 1 <= warning <= critical",
                self.severity_steps,
            )
        for name in ("guard_above", "guard_below", "prior"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                _fail(name, "a finite number or None", value)
        if self.prior is not None and self.kind == "ratio" and not 0.0 <= self.prior <= 1.0:
            _fail("prior", "in [0, 1] for a ratio", self.prior)
        if self.prior is not None and self.kind == "count" and self.prior < 0.0:
            _fail("prior", ">= 0 for a count", self.prior)
        if not math.isfinite(self.prior_spread) or self.prior_spread < 0:
            _fail("prior_spread", "a finite number >= 0", self.prior_spread)
        if not isinstance(self.min_sample_size, int) or self.min_sample_size < 1:
            _fail("min_sample_size", "an int >= 1", self.min_sample_size)
        if not isinstance(self.slot_lag_ms, int) or self.slot_lag_ms < 0:
            _fail("slot_lag_ms", "an int >= 0", self.slot_lag_ms)

    @property
    def z(self) -> float:
        """Half-width of the band in standard deviations."""
        return z_threshold(self.sensitivity)

    @property
    def state_key(self) -> str:
        """Short key of what a state means under this configuration."""
        text = f"v2|{self.kind}|{self.utc_offset_ms}"
        return hashlib.sha256(text.encode()).hexdigest()[:8]
