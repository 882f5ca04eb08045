"""A rate rule's keys judged against their peers in the same window.

Size: the wave factor of a key's peers, their scatter around it, the band widening, and
the rows a standing peer judgement (``relative_to = "peers"``) moves.

When a dimension's keys rise together, the rise is the shop's, not one key's: the parcels
that slip past a Sunday arrive late on Monday with every carrier and region, and a
promotion's return wave lifts every SKU. Per dimension, a key's *wave factor* ``w`` is
the median, weighted by denominator, of ``rate / baseline`` over the *other* keys with
enough data (leave-one-out: a key with a problem of its own must not be its own peer),
floored at 1 (:func:`peer_factors`). The key is then judged against ``w x baseline`` in
the engine's variance-stabilised scale ``g(p) = arcsin(sqrt(p))`` (Anscombe 1948), where
a share's sampling noise does not grow with its level: the engine sees the rate ``p'``
with ``g(p') = g(p) - (g(w b) - g(b))`` (:func:`de_wave`). The band (and the CUSUM
threshold) is widened by ``PEER_WIDEN`` (``w`` is an estimate) or by the peers' own
scatter around their wave, whichever is larger (:func:`peer_spread`), in full from a
wave of ``PEER_FULL_WAVE`` and in proportion below it (:func:`widening`), and the
window's CUSUM evidence weighs one over the widening: a key's own wave differs a little
from its peers' for as long as the wave lasts, which the CUSUM would otherwise add up.
So only a key breaking away from its peers fires. Dividing the rate by ``w`` instead
widens the band ``sqrt(w)`` times and compresses high rates: harmless for the plain
return rate's waves (``w`` ~ 1.5), it swallowed a x4 sizing error under the lag-aware
rate, whose early returns move ~2.5 times as much (``w`` ~ 3-4).

Two users: the calendar judges ``return_rate`` and ``complaint_rate`` this way in every
window of a declared event's aftermath (:mod:`streams.pipeline.oncall`), and a rule with
``relative_to = "peers"`` (shipped on ``late_delivery_share``, ``delivery_time_p90`` and
``wait_time_p90``) in any window whose wave reaches ``STANDING_WAVE``
(:func:`standing_shifts`; on ``wait_time_p90``'s log-means, a wave that stands out of the
queues' sampling noise, up to ``MOST_LOAD_WAVE``). Below it the window is judged and
learned as usual. A moved window teaches nothing: learning the
moved rate would leave the common level of all baselines free to drift (each key's ``w``
would absorb it), and learning the raw rate would teach every key a shop-wide swing as
its own. Log-means do learn the raw value (``WindowPlan.learn_offset``): a queue's waits
step up every night at a shift change on every queue at once, a wave that recurs daily
and must become the hour's profile (the second shop's 23:00 step paged 17 times in 14
days at 3x when moved windows taught nothing, 14 judged alone, 6 learning raw).

A percentile rule's rows (``kind = "percentile"``, the quantile statistic) are read the
same way with the window's quantile as the rate and the engine's ``g(x) = log1p(x)`` as
its scale; the move is a division, ``x' = x / w`` (about ``g(x) - log w``: transit hours
are far above 1), reported back times ``w`` (:func:`de_wave_quantile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from thresholds.engine import Outcome
from thresholds.kinds import to_observed

__all__ = [
    "LEAST_WAVE",
    "LOG_WAVE_Z",
    "MIN_PEERS",
    "MOST_LOAD_WAVE",
    "PEER_FULL_WAVE",
    "PEER_WIDEN",
    "STANDING_WAVE",
    "STANDING_Z",
    "PeerKind",
    "PeerShift",
    "Series",
    "de_wave",
    "de_wave_quantile",
    "peer_factors",
    "peer_spread",
    "stab",
    "standing_shifts",
    "unshift",
    "widening",
]

#: Fewest series with data a dimension needs for a peer factor.
MIN_PEERS: Final = 3
#: Least band (and CUSUM threshold) multiplier of peer-normalised rows: the wave factor
#: is an estimate from the same window. Measured (tests/unit/scenarios/test_calendar.py,
#: lag-aware rate): 1.25 let one small SKU with a chance excess fire after four days; 1.5
#: none, the sizing error 6 h later. With bands at the sampling noise (windows settle,
#: ``RuleSpec.settle_ms``) 1.5 and 2.0 both let it fire by CUSUM at full weight, hence a
#: peer row's CUSUM evidence weighs one over its widening (``WindowPlan.sequential``).
PEER_WIDEN: Final = 1.5
#: Wave factor from which a peer-normalised row gets its full widening (see widening).
PEER_FULL_WAVE: Final = 1.5
#: ``relative_to = "peers"`` moves a window when its peers rose together: by a quarter
#: (``STANDING_WAVE``), or by a tenth (``LEAST_WAVE``) that stands ``STANDING_Z`` standard
#: errors of their median ratio above 1. So ``w >= 1 + min(STANDING_WAVE, max(LEAST_WAVE,
#: STANDING_Z x se))``. A Monday's slipped parcels double the late share: the quarter
#: alone catches them at any volume, while many peers that agree (the 40 cells of a busy
#: shop) also catch a promotion's smaller wave of late parcels. Below a tenth a move
#: changes little and the window is better learned.
STANDING_WAVE: Final = 0.25
LEAST_WAVE: Final = 0.1
STANDING_Z: Final = 3.0
#: Largest wave of log-mean rows (``statistic = "log_mean"``: waits) judged away. Every
#: queue's waits lengthen with the shop's load (about x1.4 on a Sunday evening, when
#: ``rho / (1 - rho)`` runs from 3 to 4 and more), but no busy evening doubles them: a
#: larger wave is a shop-wide staffing gap, and every queue is judged on its own; a row is
#: moved by at most this much.
MOST_LOAD_WAVE: Final = 2.0
#: Standard errors a log-mean wave stands out by to move its rows. Moving a window without
#: a wave only widens its band for a window; not moving one with a wave pages: so fewer
#: than ``STANDING_Z`` (the tail of a x1.6 evening, half in its last window, paged a
#: queue at 3, tests/unit/scenarios/test_queue_waves.py).
LOG_WAVE_Z: Final = 2.0

Series = tuple[str, str, str]
"""``(series id, dimension, key)``."""

PeerKind = Literal["ratio", "percentile"]
"""The kinds a row can be judged against its peers in: a share, or a quantile."""


@dataclass(frozen=True, slots=True)
class PeerShift:
    """How one row of a window is judged against its peers."""

    #: The peers' wave factor ``w``.
    wave: float
    #: ``g(w b) - g(b)``: how far the row was moved down in the stabilised scale.
    delta: float
    #: The numerator the engine judges (``n x p'``).
    value: float
    #: The row's band (and CUSUM threshold) multiplier.
    widen: float


def de_wave(numerator: float, n: float, baseline: float, wave: float, by: float) -> PeerShift:
    """The row with ``numerator`` of ``n`` against ``baseline``, moved by the wave ``wave``
    and widened by :func:`widening` of ``by``."""
    p = numerator / n
    delta = stab(min(wave * baseline, 1.0)) - stab(baseline)
    value = n * float(to_observed("ratio", np.asarray(max(stab(p) - delta, 0.0))))
    return PeerShift(wave, delta, value, widening(by, wave))


def de_wave_quantile(value: float, baseline: float, wave: float, by: float) -> PeerShift:
    """A percentile row's ``value`` against ``baseline``, divided by the wave ``wave`` and
    widened by :func:`widening` of ``by`` (``delta`` in the engine's ``log1p`` scale)."""
    delta = float(np.log1p(wave * baseline) - np.log1p(baseline))
    return PeerShift(wave, delta, value / wave, widening(by, wave))


def standing_shifts(
    series: Sequence[Series],
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    outcome: Outcome,
    min_sample: int,
    z: float,
    kind: PeerKind = "ratio",
    noise: npt.NDArray[np.float64] | None = None,
) -> dict[int, PeerShift]:
    """Row -> its shift, for the rows of a ``relative_to = "peers"`` window whose
    dimension's peers rose together (see ``STANDING_WAVE``; ``outcome``: the engine's peek
    of the unmoved window; ``kind``: ``values`` are numerators of ``sizes`` trials, or
    quantiles of ``sizes`` events).

    With ``noise`` (a percentile rule decided on log-means: ``values`` are ``expm1`` of
    them and ``noise`` their sampling variances) a wave moves the rows only when it stands
    ``LOG_WAVE_Z`` standard errors out, whatever its size (:func:`_log_wave_least`: four
    queues of a few waits each agree on a x1.3 by chance at a small shop's night), and
    never when the dimension's own median (every key, weighted) passes ``MOST_LOAD_WAVE``
    (one key's peers may: the key breaking away is among the others' peers), each row
    then by at most that."""
    baseline = outcome.baseline
    by_dimension: dict[str, list[int]] = {}
    for row, (_, dimension, _) in enumerate(series):
        by_dimension.setdefault(dimension, []).append(row)
    out: dict[int, PeerShift] = {}
    for rows in by_dimension.values():
        factors = peer_factors(values, sizes, baseline, rows, min_sample, kind)
        if not factors:
            continue
        ratios, weights, members = _members(values, sizes, baseline, rows, min_sample, kind)
        if noise is None:
            least = 1.0 + min(STANDING_WAVE, max(LEAST_WAVE, STANDING_Z * _median_error(ratios)))
        elif _weighted_median(ratios, weights) > MOST_LOAD_WAVE:
            continue  # no busy hour does that: a shop-wide surge, judged as it is
        else:
            least = _log_wave_least(ratios, noise[members])
            factors = {row: min(w, MOST_LOAD_WAVE) for row, w in factors.items()}
        moved = {
            row: w
            for row, w in factors.items()
            if w >= least and sizes[row] > 0 and np.isfinite(baseline[row])
            if baseline[row] > 0
        }
        if not moved:
            continue
        by = max(PEER_WIDEN, peer_spread(values, sizes, outcome, factors, min_sample, z, kind))
        for row, w in moved.items():
            out[row] = (
                de_wave_quantile(values[row], baseline[row], w, by)
                if kind == "percentile"
                else de_wave(values[row], sizes[row], baseline[row], w, by)
            )
    return out


def _rate(value: float, n: float, kind: PeerKind) -> float:
    """What a row's baseline is a baseline of: the share ``value / n``, or the quantile."""
    return value if kind == "percentile" else value / n


def _scale(x: float, kind: PeerKind) -> float:
    """The engine's variance-stabilised scale of a share, or ``log1p`` of a quantile."""
    return float(np.log1p(max(x, 0.0))) if kind == "percentile" else stab(x)


def _members(
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    baseline: npt.NDArray[np.float64],
    rows: list[int],
    min_sample: int,
    kind: PeerKind = "ratio",
) -> tuple[list[float], list[float], list[int]]:
    """``rate / baseline``, weight (denominator or event count) and row of the rows with
    enough data."""
    ratio, weight, members = [], [], []
    for row in rows:
        den, b = sizes[row], baseline[row]
        if den >= max(min_sample, 1) and np.isfinite(b) and b > 0:
            ratio.append(_rate(values[row], den, kind) / b)
            weight.append(float(den))
            members.append(row)
    return ratio, weight, members


def _median_error(ratios: list[float]) -> float:
    """Standard error of the median of ``ratios``: ``1.2533 x 1.4826 x MAD / sqrt(k)``, the
    median's asymptotic error under normal scatter with the MAD as a robust sigma (Hampel
    1974); infinite with fewer than ``MIN_PEERS``."""
    if len(ratios) < MIN_PEERS:
        return float("inf")
    q = np.asarray(ratios)
    mad = float(np.median(np.abs(q - np.median(q))))
    return 1.2533 * 1.4826 * mad / float(np.sqrt(len(q)))


def _log_wave_least(ratios: list[float], noise: npt.NDArray[np.float64]) -> float:
    """The least wave of log-mean peers that moves their rows: ``exp(LOG_WAVE_Z x se)``,
    ``se`` the larger of the median's error from the peers' scatter (:func:`_median_error`)
    and from their sampling noise, ``1.2533 / sqrt(sum 1 / noise_i)`` (the median's
    efficiency against the inverse-variance mean, Kenney & Keeping 1962), and never below
    ``1 + LEAST_WAVE``."""
    known = noise[noise > 0]
    sampled = 1.2533 / float(np.sqrt(np.sum(1.0 / known))) if len(known) else float("inf")
    se = max(_median_error(ratios), sampled)
    return max(1.0 + LEAST_WAVE, float(np.exp(min(LOG_WAVE_Z * se, 50.0))))


def _weighted_median(ratios: list[float], weights: list[float]) -> float:
    """The median of ``ratios`` weighted by ``weights`` (the lower one at a tie)."""
    order = np.argsort(np.asarray(ratios), kind="stable")
    cum = np.cumsum(np.asarray(weights)[order])
    k = min(int(np.searchsorted(cum, cum[-1] / 2)), len(order) - 1)
    return float(np.asarray(ratios)[order][k])


def peer_factors(
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    baseline: npt.NDArray[np.float64],
    rows: list[int],
    min_sample: int,
    kind: PeerKind = "ratio",
) -> dict[int, float]:
    """Row -> wave factor of its peers: the denominator-weighted median of ``rate / baseline``
    over the other rows with enough data (at least ``MIN_PEERS`` of them); rows without
    enough data of their own are judged against the median of all."""
    ratio, weight, members = _members(values, sizes, baseline, rows, min_sample, kind)
    if len(members) < MIN_PEERS:
        return {}
    order = np.argsort(np.asarray(ratio), kind="stable")
    q = np.asarray(ratio)[order]
    cum = np.cumsum(np.asarray(weight)[order])
    total = float(cum[-1])
    out = dict.fromkeys(rows, _weighted_median(ratio, weight))
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


def peer_spread(
    values: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    outcome: Outcome,
    factors: dict[int, float],
    min_sample: int,
    z: float,
    kind: PeerKind = "ratio",
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
        if not 0 < b < upper or (kind == "ratio" and upper >= 1):
            continue
        half = (_scale(upper, kind) - _scale(b, kind)) / z
        moved = w * b if kind == "percentile" else min(w * b, 1.0)
        devs.append(abs(_scale(_rate(values[row], n, kind), kind) - _scale(moved, kind)) / half)
    if len(devs) < MIN_PEERS:
        return 1.0
    return 1.4826 * float(np.median(devs))


def widening(by: float, w: float) -> float:
    """A row's band multiplier for a wave factor ``w``: ``by`` in full from a wave of
    ``PEER_FULL_WAVE``, none without a wave, linear in between. The widening stands for
    what is not known about the row's own share of the wave, which is as small as the
    wave: with ``w`` about 1.0-1.1 a full 1.9 (the peers' scatter at 20 deliveries a
    window) hid a +29 pp sizing error for two days (quality matrix, TUNE seed 1, 1x)."""
    return 1.0 + (by - 1.0) * min(1.0, max(w - 1.0, 0.0) / (PEER_FULL_WAVE - 1.0))


def stab(p: float) -> float:
    """The engine's variance-stabilised scale of a share (:func:`thresholds.kinds.prepare`)."""
    return float(np.arcsin(np.sqrt(min(max(p, 0.0), 1.0))))


def unshift(value: float | None, delta: float) -> float | None:
    """A share of the engine's scale moved back up by ``delta`` in the stabilised scale."""
    if value is None or not np.isfinite(value):
        return value
    return float(to_observed("ratio", np.asarray(stab(value) + delta)))
