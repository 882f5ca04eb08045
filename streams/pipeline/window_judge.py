"""One window of a rule's series: merged partials, observed values, the bank's decision.

The closer (:mod:`streams.pipeline.closer`) gathers a window's partials per series; these
functions turn them into what the engine reads (the observation of each kind, shared
denominators, the context shown in alerts) and call the rule's
:class:`~thresholds.bank.SeriesBank`, judging count keys against their total where the rule
says so (``relative_to``, ``total_direction``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from alerts.model import join_key, split_key
from streams.pipeline.aggregate import SHARED_KEY, TOTAL_KEY, Partial, series_id
from streams.rules.catalogue import RuleSpec
from thresholds.bank import SeriesBank
from thresholds.engine import Outcome
from thresholds.sketch import QuantileSketch
from thresholds.state import SeriesState

__all__ = [
    "SIDES",
    "context_of",
    "evaluate",
    "exposure_without_breakaways",
    "merge",
    "observation",
    "relative_to_total",
    "share_denominators",
    "sketch_of",
]


SIDES: dict[str | None, int] = {None: 0, "both": 0, "up": 1, "down": -1}


def evaluate(
    rule: RuleSpec,
    bank: SeriesBank,
    end: int,
    ids: list[str],
    rows: np.ndarray,
    values: np.ndarray,
    sample: np.ndarray | None,
    noise: np.ndarray | None,
    *,
    peek: bool = False,
    z_scale: np.ndarray | None = None,
    learn: np.ndarray | None = None,
    raw: np.ndarray | None = None,
    guard_value: np.ndarray | None = None,
    sequential: np.ndarray | None = None,
    learn_offset: np.ndarray | None = None,
) -> Outcome:
    """Decide one window of ``rows`` (only read the outcome when ``peek``); on-call
    ``z_scale``, ``learn``, ``sequential`` and ``learn_offset``, and ``guard_value``, as
    in :func:`thresholds.engine.step`;
    ``raw``: the observed values when ``values`` were scaled by the calendar. The total
    series is held to ``rule.total_cusum_h`` where the rule sets one; keys judged against
    the total are judged without the keys that broke away from it
    (:func:`exposure_without_breakaways`)."""
    exposure = sides = cusum_scale = None
    counts = values if raw is None else raw
    if rule.relative_to == "total" or rule.total_direction is not None:
        exposure, sides = relative_to_total(rule, ids, counts)
        sample = noise = None
    if rule.total_cusum_h is not None and rule.detector is not None:
        own = rule.total_cusum_h / rule.detector.cusum_h
        cusum_scale = np.where(_total_rows(rule, ids), own, 1.0)
    if exposure is not None:

        def judge(trial: np.ndarray) -> Outcome:
            return bank.peek(
                end,
                rows,
                values,
                sample,
                noise,
                trial,
                sides,
                guard_value=guard_value,
                cusum_scale=cusum_scale,
            )

        exposure = exposure_without_breakaways(ids, counts, exposure, judge)
    window = (end, rows, values, sample, noise, exposure, sides)
    if peek:
        return bank.peek(*window, guard_value=guard_value, cusum_scale=cusum_scale)
    return bank.evaluate(
        *window,
        z_scale=z_scale,
        learn=learn,
        guard_value=guard_value,
        sequential=sequential,
        cusum_scale=cusum_scale,
        learn_offset=learn_offset,
    )


def relative_to_total(
    rule: RuleSpec, ids: list[str], counts: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(exposure, sides)`` of a count rule whose keys are judged against the total
    (``relative_to``) and whose total may watch its own side (``total_direction``);
    ``counts`` are the observed counts (before a calendar scaled them: the exposure is
    the total's observed count).

    Every key but the total is modelled as its share of the total in the same window
    (the total's count is the key's exposure, see :func:`thresholds.engine.step`): a
    shop-wide rise or dip moves the key's expectation with it, and only a key that
    breaks away from the total violates.
    """
    is_total = _total_rows(rule, ids)
    sides = np.where(is_total, SIDES[rule.total_direction], 0).astype(np.int8)
    exposure = None
    if rule.relative_to == "total":
        count = float(counts[is_total][0]) if is_total.any() else 0.0
        exposure = np.where(is_total, np.nan, count)
    return exposure, sides


#: The expected share of the keys set apart is capped here, so the others' exposure stays
#: finite when nearly the whole dimension broke away.
_MAX_SHARE_APART = 0.9

#: At most this many rounds of setting apart per window (each one more peek).
_ROUNDS_APART = 4


def exposure_without_breakaways(
    ids: list[str],
    counts: np.ndarray,
    exposure: np.ndarray,
    judge: Callable[[np.ndarray], Outcome],
) -> np.ndarray:
    """The exposure of each share once the keys that broke away from the total are set
    apart (``judge``: the window judged against an exposure, peeked).

    Keys in an episode are set apart first; then, round by round, of the keys still out
    of their band, the one of each dimension furthest from its share of the *expected*
    total (the total's baseline): with shares alone, one channel halving and the others
    rising look alike, while against the expected total only the broken one stands out.
    Every other key of its dimension is judged against what is left, ``T - sum n_b``,
    scaled back to a whole total by the broken keys' expected share: its expected count
    becomes ``s_k * (T - sum n_b) / (1 - sum s_b)``, the multinomial's expectation given
    the broken keys' counts. Without this, a channel whose checkout halves lifts the
    other channels' shares and they fire *up*, and a channel that doubles pushes them
    down and they fire as outages (channels of 55, 35 and 10 % at 300 orders per 15
    min: 6 seeds of 6 each). The keys set apart stay judged against the whole total."""
    eligible = np.isfinite(exposure)
    first = judge(exposure)
    known = eligible & np.isfinite(first.baseline)
    # In an episode before this window (``alerting`` includes this window's own fires).
    apart = first.alerting & (first.transition != 1) & known
    if not (apart.any() or (first.violating & known).any()):
        return exposure
    dimensions = np.array([sid.split(":", 2)[1] for sid in ids])
    shares = np.where(known, first.baseline / np.maximum(exposure, 1.0), 0.0)
    expected_total = first.baseline[~eligible & np.isfinite(first.baseline)]
    strength = np.abs(
        judge(np.where(eligible, expected_total[0], np.nan)).z if expected_total.size else first.z
    )
    counts = np.asarray(counts, dtype=np.float64)
    adjusted = _exposure_without(apart, exposure, counts, shares, dimensions)
    for _ in range(_ROUNDS_APART):
        outcome = first if adjusted is exposure else judge(adjusted)
        out = outcome.violating & known & ~apart
        if not out.any():
            break
        for dimension in set(dimensions[out].tolist()):
            candidates = np.flatnonzero(out & (dimensions == dimension))
            apart[candidates[np.argmax(strength[candidates])]] = True
        adjusted = _exposure_without(apart, exposure, counts, shares, dimensions)
    return adjusted


def _exposure_without(
    apart: np.ndarray,
    exposure: np.ndarray,
    counts: np.ndarray,
    shares: np.ndarray,
    dimensions: np.ndarray,
) -> np.ndarray:
    """``exposure`` with the keys ``apart`` taken out of their dimension's total for the
    other keys of that dimension (:func:`exposure_without_breakaways`); ``exposure``
    itself when none are apart."""
    if not apart.any():
        return exposure
    adjusted = exposure.copy()
    for dimension in set(dimensions[apart].tolist()):
        broken = apart & (dimensions == dimension)
        total = float(exposure[broken][0])
        share = min(float(shares[broken].sum()), _MAX_SHARE_APART)
        rest = max(total - float(counts[broken].sum()), 0.0)
        others = (dimensions == dimension) & ~apart & np.isfinite(exposure)
        adjusted[others] = rest / (1.0 - share)
    return adjusted


def _total_rows(rule: RuleSpec, ids: list[str]) -> np.ndarray:
    """Which of ``ids`` is the rule's total series (a boolean mask)."""
    total = series_id(rule.name, "total", TOTAL_KEY)
    return np.array([sid == total for sid in ids], dtype=np.bool_)


def merge(by_source: dict[str, Partial]) -> Partial:
    """The sum of one series' partials of a window. Most series come from one source:
    that partial is taken over (``pending`` no longer holds it) instead of being copied
    into a fresh one; ``+ 0.0`` keeps what the copy did to a ``-0.0`` sum."""
    if len(by_source) == 1:
        (partial,) = by_source.values()
        partial.num += 0.0
        partial.den += 0.0
        return partial
    merged = Partial()
    for partial in by_source.values():
        merged.merge(partial)
    return merged


def sketch_of(partial: Partial | None) -> QuantileSketch | None:
    """The partial's sketch (``None`` without a partial)."""
    return None if partial is None else partial.sketch


def observation(rule: RuleSpec, partial: Partial) -> tuple[float, float]:
    """``(value, sample size)`` of a window as the rule's kind reads it: a percentile's
    sketch quantile and count, a ratio's numerator and denominator, a count twice."""
    if rule.kind == "percentile":
        sketch = partial.sketch
        if sketch is None or sketch.count == 0:
            return 0.0, 0.0
        return sketch.quantile(rule.quantile), float(sketch.count)
    if rule.kind == "ratio":
        return partial.num, partial.den
    return partial.num, partial.num


def share_denominators(
    rule: str,
    dimensions: Iterable[tuple[str, ...]],
    shared: frozenset[str],
    merged: dict[tuple[str, str], Partial],
    known: Iterable[str],
) -> dict[tuple[str, str], Partial]:
    """Give every series of a dimension with a ``shared`` part its shared denominator,
    including known series without events in the window (their rate is 0 of it, not "no
    data"); the shared keys are no series. ``cancellation_rate`` by ``reason`` divides by
    every placed order (key :data:`SHARED_KEY`); a compound dimension divides by its
    cell's: ``return_rate`` by ``region,carrier,reason``, the reason's returns on
    ``south,ZTO`` by that cell's deliveries (key ``south,ZTO,__denominator__``). A compound
    dimension's overflow series has no cell: it gets the denominators of the keys folded
    into it in the window (``WindowCloser._admit``). A series that brings a denominator of
    its own keeps it: a lag-aware reason's exposure under its own delay."""
    out = dict(merged)
    known = list(known)
    for dimension, shape in _shapes(dimensions, shared).items():
        prefix = f"{rule}:{dimension}:"
        keys = {key for dim, key in out if dim == dimension}
        keys |= {sid[len(prefix) :] for sid in known if sid.startswith(prefix)}
        cells = {key: _denominator_key(key, shape) for key in keys}
        denominators = {
            key: out.pop((dimension, key)).den
            for key, cell in cells.items()
            if cell == key and (dimension, key) in out
        }
        for key, cell in cells.items():
            if cell is None or cell == key:
                continue
            partial = out.get((dimension, key))
            if partial is None:
                partial = out[(dimension, key)] = Partial()
            if not partial.den:  # a key's own exposure stays (``streams.pipeline.cohorts``)
                partial.den = denominators.get(cell, 0.0)
    return out


def born_known(
    rule: str,
    dimensions: Iterable[tuple[str, ...]],
    shared: frozenset[str],
    new_ids: Iterable[str],
    bank: SeriesBank,
) -> dict[str, SeriesState]:
    """Ready states for the new series of a compound shared-denominator dimension whose
    cell has a ready series already (a reason first seen on a ``region,carrier`` whose
    other reasons are known): the cell's deliveries were watched all along, so the new
    reason's past is known, none of them, and its first returns are judged at once
    instead of after a warm-up that a two-day incident would outlast (a carrier that
    starts damaging parcels brings the cell's first ``damaged`` returns).

    The state is a rate of zero at the sibling's usual denominator ``n`` (the level the
    arcsine of ``(0 + 3/8) / (n + 3/4)``, see :mod:`thresholds.kinds`) with nothing but its
    sampling variance ``1 / (4n + 2)`` and ``grace_period`` windows of age; the sibling
    is the ready series of the same cell with the most windows."""
    compound = {d: shape for d, shape in _shapes(dimensions, shared).items() if shape[0] > 1}
    wanted: dict[tuple[str, str | None], list[str]] = {}
    for sid in new_ids:
        _, dimension, key = sid.split(":", 2)
        shape = compound.get(dimension)
        cell = None if shape is None else _denominator_key(key, shape)
        if cell is not None:  # not an overflow series
            wanted.setdefault((dimension, cell), []).append(sid)
    if not wanted:
        return {}
    grace = bank.config.grace_period
    siblings: dict[tuple[str, str | None], SeriesState] = {}
    for sid in bank.ids:
        rule_name, dimension, key = sid.split(":", 2)
        shape = compound.get(dimension)
        if rule_name != rule or shape is None:
            continue
        home = (dimension, _denominator_key(key, shape))
        if home not in wanted:
            continue
        state = bank.state(sid)
        best = siblings.get(home)
        if state.n >= grace and state.noise > 0 and (best is None or state.n > best.n):
            siblings[home] = state
    born: dict[str, SeriesState] = {}
    for home, sids in wanted.items():
        sibling = siblings.get(home)
        if sibling is None:
            continue
        n = max((1.0 / sibling.noise - 2.0) / 4.0, 1.0)
        level = math.asin(math.sqrt(0.375 / (n + 0.75)))
        for sid in sids:
            born[sid] = SeriesState(
                state_key=sibling.state_key,
                n=grace,
                last_ts=sibling.last_ts,
                spacing=sibling.spacing,
                level=level,
                var=sibling.noise,
                noise=sibling.noise,
            )
    return born


#: A dimension with a shared part: its number of parts and the shared parts' places.
_Shape = tuple[int, tuple[int, ...]]


def _shapes(dimensions: Iterable[tuple[str, ...]], shared: frozenset[str]) -> dict[str, _Shape]:
    """The dimensions with a ``shared`` part, by name, with their shapes."""
    return {
        ",".join(parts): (len(parts), tuple(i for i, part in enumerate(parts) if part in shared))
        for parts in dimensions
        if shared.intersection(parts)
    }


def _denominator_key(key: str, shape: _Shape) -> str | None:
    """The key ``key``'s shared denominator arrives under: its shared parts replaced by
    :data:`SHARED_KEY` (as stage 1 keys a denominator-only event, see
    ``aggregate._series_keys``), :data:`SHARED_KEY` alone for a one-part dimension;
    ``None`` for a key of another shape (a compound dimension's overflow series)."""
    count, at = shape
    if count == 1:
        return SHARED_KEY
    values = split_key(key)
    if len(values) != count:
        return None
    for i in at:
        values[i] = SHARED_KEY
    return join_key(values)


def context_of(partial: Partial) -> dict[str, Any] | None:
    """The sub-keys that contribute most to the window's numerator (top 3 per field)."""
    if not partial.context:
        return None
    out: dict[str, Any] = {}
    for name, counts in sorted(partial.context.items()):
        total = sum(counts.values()) or 1.0
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
        out[f"top_{name}"] = [
            {"key": key, "count": int(count), "share": round(count / total, 3)}
            for key, count in top
        ]
    return out
