"""Per-event values (an order's amount or quantity) against their group's norm.

The norm is a robust location and scale of ``y = sign(x) log1p(|x|)`` (so the
band is relative: ``x`` about ``e^(z*sigma)`` times the typical value).
:meth:`EventNorm.score` is a pure read used for every event of an open
window; :meth:`EventNorm.update` folds a closed window's values in one step.
The fold sorts the values and sums them with ``math.fsum``, so the result does
not depend on their arrival order::

    r_i     = y_i - level,   c = clip_sigma * sigma
    a       = 1 - (1 - alpha)^k                  (k values in the window)
    level  += a * mean(clip(r_i, -c, c))
    var    += a * (mean(min(r_i^2, c^2)) - var)

The first ``grace_period`` values are folded exactly (running mean and
variance, Welford), and the norm says ``ready=False`` until then.

Examples
--------
>>> norm = EventNorm(direction="up", grace_period=5)
>>> state = norm.new_state()
>>> norm.update(state, [20.0, 25.0, 22.0, 30.0, 18.0, 24.0])
>>> norm.score(state, 26.0).violating
False
>>> d = norm.score(state, 900.0)
>>> d.violating, d.transition
(True, 'fire')

References
----------
Welford, B. P. (1962). Note on a method for calculating corrected sums of
squares and products. *Technometrics* 4(3), 419-420.

Huber, P. J. (1964). Robust estimation of a location parameter. *Annals of
Mathematical Statistics* 35(1), 73-101.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from thresholds._validate import finite_float
from thresholds.config import WatchDirection
from thresholds.decision import Decision, Severity
from thresholds.sensitivity import Sensitivity, z_threshold

__all__ = ["EventNorm", "NormState"]


def _slog(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


def _sexp(y: float) -> float:
    return math.copysign(math.expm1(min(abs(y), 709.0)), y)


@dataclass(slots=True)
class NormState:
    """Location and scale of one group's per-event values (``y`` scale).

    Parameters
    ----------
    n
        Values folded so far.
    level, var
        Robust mean and winsorised variance of ``y``.
    """

    n: int = 0
    level: float = 0.0
    var: float = 0.0

    def to_bytes(self) -> bytes:
        """Encode as 24 little-endian bytes."""
        return struct.pack("<qdd", self.n, self.level, self.var)

    @classmethod
    def from_bytes(cls, data: bytes) -> NormState:
        """Decode :meth:`to_bytes` output."""
        n, level, var = struct.unpack("<qdd", data)
        return cls(n, level, var)

    def to_json(self) -> str:
        """Encode as JSON."""
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> NormState:
        """Decode :meth:`to_json` output."""
        d = json.loads(text)
        return cls(int(d["n"]), float(d["level"]), float(d["var"]))


class EventNorm:
    """Score single events against a robust, slowly adapting norm.

    Parameters
    ----------
    sensitivity
        ``"low"``, ``"medium"``, ``"high"`` or a number of standard deviations.
    direction
        ``"up"``, ``"down"`` or ``"both"``.
    grace_period
        Values needed before the norm is ``ready``.
    half_life
        Half-life of the norm, in values.
    clip_sigma
        Winsorising bound of the fold, in standard deviations.
    min_scale
        Floor of sigma in log units (0.05 ≈ ±5 %).
    guard_above, guard_below
        Up/down violations count only beyond these observed values.
    severity_steps
        ``(warning, critical)`` in units of ``|z| / z``.
    """

    def __init__(
        self,
        sensitivity: Sensitivity = "low",
        direction: WatchDirection = "both",
        grace_period: int = 30,
        half_life: float = 500.0,
        clip_sigma: float = 3.0,
        min_scale: float = 0.05,
        guard_above: float | None = None,
        guard_below: float | None = None,
        severity_steps: tuple[float, float] = (1.5, 2.0),
    ) -> None:
        self.z = z_threshold(sensitivity)
        if direction not in ("up", "down", "both"):
            msg = f"direction must be one of up/down/both, got {direction!r}"
            raise ValueError(msg)
        if grace_period < 2:
            msg = f"grace_period must be an int >= 2, got {grace_period!r}"
            raise ValueError(msg)
        for name, value in (
            ("half_life", half_life),
            ("clip_sigma", clip_sigma),
            ("min_scale", min_scale),
        ):
            if not math.isfinite(value) or value <= 0:
                msg = f"{name} must be a finite number > 0, got {value!r}"
                raise ValueError(msg)
        self.direction = direction
        self.grace_period = grace_period
        self.alpha = 1.0 - 2.0 ** (-1.0 / half_life)
        self.clip_sigma = clip_sigma
        self.min_scale = min_scale
        self.guard_above = guard_above
        self.guard_below = guard_below
        self.severity_steps = severity_steps

    def new_state(self) -> NormState:
        """Return an empty norm."""
        return NormState()

    def _sigma(self, state: NormState) -> float:
        return math.sqrt(max(state.var, self.min_scale**2))

    def score(self, state: NormState, value: float) -> Decision:
        """Return the decision for one event; ``state`` is not changed."""
        x = finite_float("value", value)
        ready = state.n >= self.grace_period
        sigma = self._sigma(state)
        z, up, down = self._breaks(state, x)
        violating = ready and (up or down)
        on_watch = (z > 0 and self.direction != "down") or (z < 0 and self.direction != "up")
        absz = abs(z)
        excess = max(absz - self.z, 0.0) / self.z if ready and on_watch else 0.0
        severity: Severity | None = None
        if violating:
            warn, crit = self.severity_steps
            severity = (
                "critical"
                if absz >= crit * self.z
                else "warning"
                if absz >= warn * self.z
                else "info"
            )
        return Decision(
            observed=x,
            baseline=_sexp(state.level) if ready else None,
            lower=_sexp(state.level - self.z * sigma) if ready and self.direction != "up" else None,
            upper=_sexp(state.level + self.z * sigma)
            if ready and self.direction != "down"
            else None,
            score=-excess if z < 0 else excess,
            anomaly_score=absz / (absz + self.z) if ready and on_watch else 0.0,
            sample_size=state.n,
            ready=ready,
            violating=violating,
            direction=("up" if up else "down") if violating else None,
            severity=severity,
            alerting=violating,
            transition="fire" if violating else None,
        )

    def violates(self, state: NormState, value: float) -> bool:
        """Whether :meth:`score` would find ``value`` violating: the same test without
        building the decision (most events are normal)."""
        x = finite_float("value", value)
        if state.n < self.grace_period:
            return False
        _, up, down = self._breaks(state, x)
        return up or down

    def _breaks(self, state: NormState, x: float) -> tuple[float, bool, bool]:
        """``(z, up, down)``: ``x``'s z-score in log units and whether it breaks the norm
        upward or downward (direction and guards applied, readiness not)."""
        z = (_slog(x) - state.level) / self._sigma(state) if state.n > 0 else 0.0
        up = (
            self.direction != "down"
            and z > self.z
            and (self.guard_above is None or x > self.guard_above)
        )
        down = (
            self.direction != "up"
            and z < -self.z
            and (self.guard_below is None or x < self.guard_below)
        )
        return z, up, down

    def update(self, state: NormState, values: Iterable[float]) -> None:
        """Fold one closed window's values into ``state`` (order-independent)."""
        ys = sorted(_slog(finite_float("values", v)) for v in values)
        i = 0
        while i < len(ys) and state.n < self.grace_period:
            y = ys[i]
            state.n += 1
            delta = y - state.level
            state.level += delta / state.n
            state.var += (delta * (y - state.level) - state.var) / state.n
            i += 1
        rest = ys[i:]
        if not rest:
            return
        k = len(rest)
        bound = self.clip_sigma * self._sigma(state)
        res = [y - state.level for y in rest]
        clipped = math.fsum(min(max(r, -bound), bound) for r in res) / k
        squares = math.fsum(min(r * r, bound * bound) for r in res) / k
        gain = 1.0 - (1.0 - self.alpha) ** k
        state.level += gain * clipped
        state.var += gain * (squares - state.var)
        state.n += k
