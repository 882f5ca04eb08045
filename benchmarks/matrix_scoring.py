"""Scoring of the quality matrix: episodes, incident matching, oracle delays, band efficiency.

Pure functions over plain dicts (no Kafka, no engine import), so the unit tests can
check them on hand-made cases.

- An *episode* is one ``alert_id``: its first ``firing`` event's ``window_end`` opens
  it, its ``resolved`` event's ``window_end`` closes it (open episodes end at the end of
  the run). Per-event alerts are one-instant episodes.
- An incident is *detected* when an episode on one of its ``expected`` targets opens
  with ``window_end`` in ``(start, end + one window of the rule]``; the *delay* is that
  ``window_end`` minus ``start`` (for return-rate incidents also minus the first extra
  return).
- An episode is *true* when its target is an ``expected`` target of an incident (key
  ``"*"`` = any key) and its span overlaps ``[start - one window, end + grace]`` (a day),
  or a ``related`` target (one that moves with the incident: the shop's total during a
  channel's outage) and its span overlaps ``[start - one window, end + one window]``;
  every other episode opened after the warm-up is *false*.
- The *oracle* delay is CUSUM's expected detection delay for a known step change,
  ``log(ARL0) / KL`` evaluations (Lorden 1971; Moustakides 1986), with ``ARL0`` the
  number of evaluations in 30 days and ``KL`` the Kullback-Leibler divergence of the
  after- from the before-distribution of the data one evaluation adds. The matrix's
  incidents are not endless steps: they last hours, and complaints and returns arrive
  hours to days after the delivery that caused them. :func:`lagged_oracle_ms` gathers
  the KL hop by hop as the simulator makes the change arrive (Lai 1998) and reports
  ``inf`` when the whole incident holds less evidence than one false alarm in 30 days
  allows.
- *Band efficiency* of a window is ``(upper - baseline) / sampling sigma``, the sigma
  a perfect model could not avoid given the window's ``n``.

References
----------
Lorden, G. (1971). Procedures for reacting to a change in distribution. *Ann. Math.
Statist.* 42(6), 1897-1908. Moustakides, G. V. (1986). Optimal stopping times for
detecting changes in distributions. *Ann. Statist.* 14(4), 1379-1387. Lai, T. L.
(1998). Information bounds and quick detection of parameter changes in stochastic
systems. *IEEE Trans. Inform. Theory* 44(7), 2917-2929.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MS_PER_DAY = 86_400_000
ARL0_DAYS = 30.0
"""Stated false-alarm rate of the oracle: one false alarm per 30 days of evaluations."""

P90_Z = 1.2815515655446004
P90_PHI = math.exp(-0.5 * P90_Z**2) / math.sqrt(2 * math.pi)


@dataclass(slots=True)
class Episode:
    """One alert episode (``alert_id``) of one series."""

    rule: str
    dimension: str
    key: str
    opened_ms: int
    closed_ms: int | None = None
    instant: bool = False
    severity: str = "warning"


@dataclass(slots=True)
class IncidentScore:
    """How the engine did on one labelled incident."""

    id: str
    kind: str
    magnitude: str
    detected: bool
    delay_ms: int | None
    delay_from_first_extra_ms: int | None
    oracle_ms: float | None
    first: Episode | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Delay over oracle delay (``None`` if either is unknown)."""
        delay = (
            self.delay_from_first_extra_ms
            if self.delay_from_first_extra_ms is not None
            else self.delay_ms
        )
        if delay is None or not self.oracle_ms or math.isinf(self.oracle_ms):
            return None
        return delay / self.oracle_ms


def episodes(alerts: Iterable[Mapping[str, Any]], end_ms: int) -> list[Episode]:
    """Episodes from alert dicts (``alert_id``, ``status``, ``rule``, ``dimension``, ``key``,
    ``window_end`` ms, ``instant``), in the order they opened."""
    out: dict[str, Episode] = {}
    for a in alerts:
        ep = out.get(a["alert_id"])
        if a["status"] == "firing" and ep is None:
            out[a["alert_id"]] = Episode(
                a["rule"],
                a["dimension"],
                a["key"],
                a["window_end"],
                a["window_end"] if a.get("instant") else None,
                bool(a.get("instant")),
                a.get("severity", "warning"),
            )
        elif a["status"] == "resolved" and ep is not None and ep.closed_ms is None:
            ep.closed_ms = a["window_end"]
    for ep in out.values():
        if ep.closed_ms is None:
            ep.closed_ms = end_ms
    return sorted(out.values(), key=lambda e: e.opened_ms)


def matches(ep: Episode, target: Mapping[str, str]) -> bool:
    """Whether an episode is on a label target (key ``"*"`` = any key)."""
    return (
        ep.rule == target["rule"]
        and ep.dimension == target["dimension"]
        and target["key"] in ("*", ep.key)
    )


def score_incident(
    label: Mapping[str, Any],
    eps: Sequence[Episode],
    windows_ms: Mapping[str, int],
    *,
    kind: str,
    magnitude: str,
    oracle_ms: float | None = None,
) -> IncidentScore:
    """Detection and delay of one incident (times in the label are epoch ms)."""
    start, end = label["start_ms"], label["end_ms"]
    hits = [
        ep
        for ep in eps
        if any(matches(ep, t) for t in label["expected"])
        and start < ep.opened_ms <= end + windows_ms.get(ep.rule, 0)
    ]
    first = min(hits, key=lambda e: e.opened_ms) if hits else None
    delay = first.opened_ms - start if first is not None else None
    extra_ms = label.get("first_extra_return_ms")
    from_extra = first.opened_ms - extra_ms if first is not None and extra_ms is not None else None
    return IncidentScore(
        label["id"], kind, magnitude, first is not None, delay, from_extra, oracle_ms, first
    )


def is_true(
    ep: Episode,
    labels: Iterable[Mapping[str, Any]],
    windows_ms: Mapping[str, int],
    grace_ms: int = MS_PER_DAY,
) -> bool:
    """Whether an episode overlaps some incident's scope and time span: its expected
    targets' up to ``grace_ms`` after its end, its related targets' up to one window of
    the rule after it (a related target moves with the incident, not after it)."""
    window = windows_ms.get(ep.rule, 0)
    closed = ep.closed_ms if ep.closed_ms is not None else ep.opened_ms
    for label in labels:
        if closed < label["start_ms"] - window:
            continue
        late = ep.opened_ms - label["end_ms"]
        if late <= grace_ms and any(matches(ep, t) for t in label["expected"]):
            return True
        if late <= window and any(matches(ep, t) for t in label["related"]):
            return True
    return False


@dataclass(slots=True)
class FalseSummary:
    """False episodes after the warm-up, per day, and precision by episode."""

    episodes: int
    false: int
    days: float
    per_rule: dict[str, int]
    false_list: list[Episode]

    @property
    def false_per_day(self) -> float:
        """False episodes per evaluated day (all rules together)."""
        return self.false / self.days if self.days > 0 else math.nan

    @property
    def precision(self) -> float:
        """True episodes over all episodes opened after the warm-up."""
        return (self.episodes - self.false) / self.episodes if self.episodes else math.nan


def false_episodes(
    eps: Sequence[Episode],
    labels: Sequence[Mapping[str, Any]],
    windows_ms: Mapping[str, int],
    eval_from_ms: int,
    end_ms: int,
    grace_ms: int = MS_PER_DAY,
) -> FalseSummary:
    """Count episodes opened in ``[eval_from_ms, end_ms)`` that match no incident."""
    counted = [ep for ep in eps if eval_from_ms <= ep.opened_ms < end_ms]
    false = [ep for ep in counted if not is_true(ep, labels, windows_ms, grace_ms)]
    per_rule: dict[str, int] = {}
    for ep in false:
        per_rule[ep.rule] = per_rule.get(ep.rule, 0) + 1
    return FalseSummary(
        len(counted), len(false), (end_ms - eval_from_ms) / MS_PER_DAY, per_rule, false
    )


# -- oracle --------------------------------------------------------------------------------


def kl_poisson(before: float, after: float) -> float:
    """KL(Poisson(after) || Poisson(before)) of one count."""
    if before <= 0 or after < 0:
        msg = f"before, after: Poisson means must be > 0 and >= 0, got {before}, {after}"
        raise ValueError(msg)
    if after == 0:
        return before
    return after * math.log(after / before) + before - after


def kl_binomial(p_before: float, p_after: float, n: float) -> float:
    """KL(Binomial(n, p_after) || Binomial(n, p_before)) = n x Bernoulli KL."""
    if not (0 < p_before < 1 and 0 <= p_after < 1) or n < 0:
        msg = (
            f"p_before, p_after, n: need 0 < p_before < 1, 0 <= p_after < 1, n >= 0, "
            f"got {p_before}, {p_after}, {n}"
        )
        raise ValueError(msg)
    kl = (1 - p_after) * math.log((1 - p_after) / (1 - p_before))
    if p_after > 0:
        kl += p_after * math.log(p_after / p_before)
    return n * kl


def kl_lognormal_shift(factor: float, sigma: float, n: float) -> float:
    """KL of ``n`` log-normal waits whose log-mean moves by ``log(factor)`` (same sigma)."""
    if factor <= 0 or sigma <= 0:
        msg = f"factor, sigma: must be > 0, got {factor}, {sigma}"
        raise ValueError(msg)
    return n * math.log(factor) ** 2 / (2 * sigma**2)


def arl0_evaluations(eval_ms: int, days: float = ARL0_DAYS) -> float:
    """Evaluations of a rule in ``days`` (its ARL0 at one false alarm per ``days``)."""
    return days * MS_PER_DAY / eval_ms


def oracle_evaluations(kl_per_eval: float, arl0: float) -> float:
    """CUSUM's expected delay ``log(ARL0) / KL`` in evaluations, at least one."""
    if kl_per_eval <= 0:
        return math.inf
    return max(1.0, math.log(arl0) / kl_per_eval)


def oracle_ms(kl_per_eval: float, eval_ms: int, series: float = 1.0) -> float:
    """The oracle delay in ms for a rule evaluated every ``eval_ms``.

    ``series``: how many series share the false-alarm budget (an entity rule watches
    every customer: one false alarm per 30 days *in all* is ``ARL0 x series`` per series).
    """
    return oracle_evaluations(kl_per_eval, arl0_evaluations(eval_ms) * series) * eval_ms


@dataclass(frozen=True, slots=True)
class LognormalLag:
    """A lag drawn from a mixture of log-normals, in hours: a wait becomes an event only
    when it ends, so a surge's waits (x4 of minutes to hours) arrive that much later.

    ``medians_h`` and ``weights``: one log-normal per component (a contact channel) with
    log-sd ``sigma``.
    """

    medians_h: tuple[float, ...]
    weights: tuple[float, ...]
    sigma: float

    def cdf(self, t_h: float) -> float:
        """Share of the lags at most ``t_h`` hours."""
        if t_h <= 0:
            return 0.0
        unit = statistics.NormalDist()
        total = sum(self.weights)
        return (
            sum(
                w * unit.cdf((math.log(t_h) - math.log(m)) / self.sigma)
                for m, w in zip(self.medians_h, self.weights, strict=True)
            )
            / total
        )

    @property
    def upper_h(self) -> float:
        """Where the slowest component's lags are 99.9 % done."""
        return max(self.medians_h) * math.exp(3.1 * self.sigma)


@dataclass(frozen=True, slots=True)
class UniformLag:
    """A lag uniform on ``(lo, hi)`` hours (a damaged parcel's complaint after delivery)."""

    lo: float
    hi: float

    def cdf(self, t_h: float) -> float:
        """Share of the lags at most ``t_h`` hours."""
        return min(max((t_h - self.lo) / (self.hi - self.lo), 0.0), 1.0)

    @property
    def upper_h(self) -> float:
        """The longest lag."""
        return self.hi


Lag = tuple[float, float] | UniformLag | LognormalLag
"""A uniform lag ``(lo, hi)`` in hours (or :class:`UniformLag`), or a :class:`LognormalLag`."""


def _as_lag(lag_h: Lag | None) -> UniformLag | LognormalLag | None:
    """``lag_h`` with a ``(lo, hi)`` pair read as a :class:`UniformLag`."""
    return UniformLag(*lag_h) if isinstance(lag_h, tuple) else lag_h


def arriving_share(t0_h: float, t1_h: float, span_h: float, lag_h: Lag | None = None) -> float:
    """Mean share of an incident's full extra rate that arrives in ``[t0_h, t1_h)``,
    in hours after its start.

    The incident acts on what happens in ``[0, span_h)`` (orders, waits, deliveries);
    ``lag_h``: each extra event then arrives after a delay uniform on ``(lo, hi)`` hours
    (a damaged parcel's complaint, 0.5-30 h after its delivery) or drawn from a
    :class:`LognormalLag` (a surge's wait, reported when it ends), so the extra rate ramps
    up over the lag's range and, after the span, down again; ``None``: at once (a step).
    """
    lag = _as_lag(lag_h)

    def present(t: float) -> float:
        if lag is None:
            return 1.0 if 0.0 <= t < span_h else 0.0
        return lag.cdf(t) - lag.cdf(t - span_h)

    steps = 64
    dt = (t1_h - t0_h) / steps
    return sum(present(t0_h + (i + 0.5) * dt) for i in range(steps)) / steps


def lagged_oracle_ms(
    kl_at_share: Callable[[float], float],
    eval_ms: int,
    span_h: float,
    lag_h: Lag | None = None,
    series: float = 1.0,
) -> float:
    """The oracle delay of an incident as simulated: finite, ramped by a known lag.

    ``kl_at_share(f)`` is the KL of one evaluation in which the share ``f`` of the full
    change is present (:func:`arriving_share` of that evaluation's hop). The delay is
    when the evidence gathered since the start, ``sum_j KL_j``, reaches ``log(ARL0)``
    (interpolated within the hop that crosses it, at least one evaluation): for a
    change whose after-law varies in time the cumulative KL takes the place of
    ``m x KL`` in Lorden's bound (Lai 1998). For an endless step this is
    :func:`oracle_ms`. ``inf`` when the whole incident, lagged tail included, adds
    less evidence than that: no detector meeting the false-alarm rate finds it in
    expectation.
    """
    if kl_at_share(1.0) <= 0:
        return math.inf
    need = math.log(arl0_evaluations(eval_ms) * series)
    hop_h = eval_ms / 3_600_000
    lag = _as_lag(lag_h)
    end_h = span_h + (lag.upper_h if lag is not None else 0.0)
    total, j = 0.0, 0
    while j * hop_h < end_h:
        share = arriving_share(j * hop_h, (j + 1) * hop_h, span_h, lag)
        kl = kl_at_share(share) if share > 0 else 0.0
        if kl > 0 and total + kl >= need:
            return max(1.0, j + (need - total) / kl) * eval_ms
        total += kl
        j += 1
    return math.inf


# -- band efficiency -----------------------------------------------------------------------


def sampling_sigma(
    kind: str, baseline: float, n: float | None, lognormal_sigma: float = 1.0
) -> float | None:
    """The sampling standard deviation of a window's value under the baseline.

    ``count``: ``sqrt(baseline)`` (Poisson); ``share``: ``sqrt(p (1 - p) / n)``
    (binomial); ``p90``: the standard error of a sample quantile,
    ``sqrt(q (1 - q) / n) / f(x_q)``, with the density of a log-normal whose 90th
    percentile is the baseline and whose log-sd is ``lognormal_sigma``
    (``f(x_q) = phi(z_q) / (x_q sigma)``). ``None`` when undefined (no n, p at 0 or 1).
    """
    if kind == "count":
        return math.sqrt(baseline) if baseline > 0 else None
    if not n or n <= 0:
        return None
    if kind == "share":
        if not 0 < baseline < 1:
            return None
        return math.sqrt(baseline * (1 - baseline) / n)
    if kind == "p90":
        if baseline <= 0:
            return None
        return baseline * lognormal_sigma * math.sqrt(0.9 * 0.1 / n) / P90_PHI
    msg = f"kind: must be count, share or p90, got {kind!r}"
    raise ValueError(msg)


def band_efficiency(
    kind: str,
    baseline: float | None,
    upper: float | None,
    n: float | None,
    lognormal_sigma: float = 1.0,
) -> float | None:
    """``(upper - baseline) / sampling sigma`` of one window, ``None`` if undefined."""
    if baseline is None or upper is None:
        return None
    sigma = sampling_sigma(kind, baseline, n, lognormal_sigma)
    if sigma is None or sigma <= 0:
        return None
    return (upper - baseline) / sigma


def share_model_factor(
    baseline: float | None, upper: float | None, n: float | None, z: float
) -> float | None:
    """A share's band in the engine's own scale: ``(arcsin sqrt(upper) - arcsin sqrt(baseline))
    / (z sqrt(1 / (4 n + 2)))``, the total sigma over the sampling sigma there (1.0: no
    learned model error). The arcsine scale (Anscombe 1948) is where the engine draws a
    share's band, ``z`` sigmas wide; mapped back to ``p``, that band is wider above the
    baseline than ``z`` binomial sigmas when ``n p`` is small (4.6 at p = 5 %, n = 25 and
    no model error), so :func:`band_efficiency` divided by ``z`` mixes the transform's skew
    into the model error. ``None`` when undefined.
    """
    if baseline is None or upper is None or not n or n <= 0 or z <= 0:
        return None
    if not 0 <= baseline <= 1 or not 0 <= upper <= 1:
        return None
    width = math.asin(math.sqrt(upper)) - math.asin(math.sqrt(baseline))
    return width / (z * math.sqrt(1.0 / (4.0 * n + 2.0)))


def median_or_nan(values: Sequence[float]) -> float:
    """Median, or NaN when empty."""
    return statistics.median(values) if values else math.nan
