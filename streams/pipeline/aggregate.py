"""Stage 1: per input partition, fold events into per-series window partials.

Size: the per-partition aggregator folds events into partials, norms, cohorts and the
order book; the partial record it builds is here too, because the closer and the wire
codec read its fields directly. The snapshot layout is in
:mod:`streams.pipeline.aggregate_snapshot`.

One :class:`SourceAggregator` serves one input partition (a *source*). It is
pure code: the Kafka runtime and ``replay`` feed it the same events in the same
per-partition order and get the same partials.

Event time, lateness and sealing are all defined *per source*, so the outcome
does not depend on how partitions interleave:

* ``progress`` is the newest event time seen in the source, except that a jump of
  more than ``JUMP_CONFIRM_MS`` ahead is held until a second event confirms it, so one
  event with a wrong clock cannot move the watermark and make the rest late;
* an event is **late** when ``ts < progress - lateness``: it is counted and
  merged nowhere;
* a window ``[start, end)`` is **sealed** once ``end <= progress - lateness``
  (the source watermark); no later event of this source can enter it, so its
  partials are final and are shipped to the series' closer. Rules for which
  :func:`ships_panes` holds ship each hop-sized pane ``[k*hop, (k+1)*hop)`` once
  instead, when the watermark passes its end; the closer unites a window's panes.

Per-event rules (``order_outlier``) are scored on arrival against norms that
learn only at seal time, so a decision depends on the source's own history.
Norms are bounded per source: a norm not fed for the rule's ``idle_ttl`` (event
time, checked at each fold) is evicted, and none is created beyond ``max_series``
(such a sku is scored like a new one: against its category's quantity norm).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from alerts.model import join_key, split_key
from streams.contract.events import Event, OrderEvent, TopicName
from streams.pipeline.aggregate_snapshot import encode_snapshot, read_snapshot
from streams.pipeline.cohorts import CohortMemory
from streams.pipeline.heap import note_evictions
from streams.pipeline.order_state import LostParcel, OrderBook, OrderFacts
from streams.pipeline.strata import Strata
from streams.pipeline.strata import add as add_to_stratum
from streams.pipeline.strata import merge as merge_strata
from streams.pipeline.strata import units as stratum_units
from streams.rules.catalogue import DIMENSION_FIELDS, RuleSet, RuleSpec
from thresholds.decision import Decision
from thresholds.event_norm import EventNorm, NormState
from thresholds.sketch import QuantileSketch

__all__ = [
    "SHARED_KEY",
    "EventAlert",
    "Partial",
    "SealedPartial",
    "SourceAggregator",
    "series_id",
    "ships_panes",
]

#: Key of the denominator a shared-denominator dimension's series divide by (never a
#: series of its own: see ``streams.rules.spec.Rule.shared_denominator``).
SHARED_KEY: Final = "__denominator__"
_CONTEXT_TOP = 20
#: Context fields kept in full up to a larger bound on the wire and in snapshots: the
#: distinct customers of ``shared_address`` are exact while one source saw at most this
#: many in a window (a lower bound of at least this many beyond).
_CONTEXT_TOP_BY_FIELD: Final[dict[str, int]] = {"customer_id": 64}
#: The key of every rule's ``total`` dimension.
TOTAL_KEY = "all"
#: A source's progress jumps further ahead than this only when two events agree.
JUMP_CONFIRM_MS = 6 * 3_600_000


def series_id(rule: str, dimension: str, key: str) -> str:
    """``rule:dimension:key``, the alerts topic key and the series' identity."""
    return f"{rule}:{dimension}:{key}"


#: Per context field, the weight of each value. Plain dicts, not ``Counter``: millions of
#: partials are merged and decoded per day, and ``Counter()`` alone cost more than the
#: merge did (its ``__init__`` is Python code).
Context = dict[str, dict[str, float]]


@dataclass(slots=True)
class Partial:
    """What one source saw of one series in one window."""

    num: float = 0.0
    den: float = 0.0
    sketch: QuantileSketch | None = None
    #: Per context field, the weight of each value; ``None`` until one is added (a key
    #: flood opens millions of partials: an empty dict each was a quarter of their memory).
    context: Context | None = None
    #: Of a series with compound cells under it (carrier ``PostNL`` over cell
    #: ``EU-West,PostNL``): the denominator of each cell in the window, ``None`` for other
    #: series. Added at seal time (:func:`_note_cells`); see :func:`is_twin`.
    cells: dict[str, float] | None = None
    #: Of a percentile rule with ``strata``: the values' sums per stratum value
    #: (:mod:`streams.pipeline.strata`); ``None`` for other rules.
    strata: Strata | None = None
    #: Of a series of a rule's ``set_apart_in`` dimensions: per cell of its ``set_apart``
    #: dimension, ``[num, den]`` of the window's events in that cell
    #: (:mod:`streams.pipeline.set_apart`); ``None`` for other series.
    split: dict[str, list[float]] | None = None

    @property
    def rich(self) -> bool:
        """Holds more than its sums (travels with :meth:`extras`)."""
        return (
            self.sketch is not None
            or bool(self.context)
            or bool(self.cells)
            or bool(self.strata)
            or bool(self.split)
        )

    def merge(self, other: Partial) -> None:
        """Add ``other`` into this partial (order-independent); ``other`` is not changed
        and shares nothing with this one afterwards."""
        self.num += other.num
        self.den += other.den
        if other.split:
            _add_split(self, other.split)
        if other.cells:
            if self.cells is None:
                self.cells = dict(other.cells)
            else:
                _add_weights(self.cells, other.cells)
        if other.sketch is not None:
            if self.sketch is None:
                self.sketch = QuantileSketch()
            self.sketch.merge(other.sketch)
        if other.strata:
            if self.strata is None:
                self.strata = {}
            merge_strata(self.strata, other.strata)
        if other.context:
            mine = self.context
            if mine is None:
                self.context = {name: dict(counts) for name, counts in other.context.items()}
                return
            for name, counts in other.context.items():
                target = mine.get(name)
                if target is None:
                    mine[name] = dict(counts)
                else:
                    _add_weights(target, counts)

    def copy(self) -> Partial:
        """A partial equal to ``Partial()`` with this one merged in, sharing nothing."""
        sketch = None
        if self.sketch is not None:
            sketch = QuantileSketch()
            sketch.merge(self.sketch)
        context = (
            {name: dict(counts) for name, counts in self.context.items()} if self.context else None
        )
        cells = dict(self.cells) if self.cells else None
        strata = {k: list(v) for k, v in self.strata.items()} if self.strata else None
        split = {k: list(v) for k, v in self.split.items()} if self.split else None
        return Partial(0.0 + self.num, 0.0 + self.den, sketch, context, cells, strata, split)

    def bound_context(self) -> None:
        """Cut the context, in place, to the top entries the wire keeps of it (see
        :meth:`extras`): a window's partial of one source united from its panes is then
        what that source's window partial was."""
        context = self.context
        if context:
            for name, counts in context.items():
                top = _CONTEXT_TOP_BY_FIELD.get(name, _CONTEXT_TOP)
                if len(counts) > top:
                    context[name] = dict(_top(counts, top))
        if self.cells and len(self.cells) > _CONTEXT_TOP:
            self.cells = dict(_top(self.cells, _CONTEXT_TOP))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the context keeps its top entries only."""
        out: dict[str, Any] = {"n": self.num, "d": self.den}
        out.update(self.extras())
        return out

    def extras(self, *, ordered: bool = True) -> dict[str, Any]:
        """The sketch (``s``) and the context's top entries (``c``) of :meth:`to_dict`.

        With ``ordered=False`` a context within its bound is given as it is (no copy, in
        insertion order): for an encoder that sorts keys (the wire's) the bytes are the
        same, at a fraction of the cost.
        """
        out: dict[str, Any] = {}
        if self.sketch is not None:
            out["s"] = self.sketch.to_json()
        if self.context:
            out["c"] = {
                name: _bounded(counts, _CONTEXT_TOP_BY_FIELD.get(name, _CONTEXT_TOP), ordered)
                for name, counts in sorted(self.context.items())
            }
        if self.cells:
            out["x"] = _bounded(self.cells, _CONTEXT_TOP, ordered)
        if self.strata:
            out["t"] = self.strata
        if self.split:
            out["y"] = self.split
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partial:
        """Inverse of :meth:`to_dict`."""
        return cls.from_parts(data["n"], data["d"], data)

    @classmethod
    def from_parts(cls, num: float, den: float, extras: dict[str, Any]) -> Partial:
        """A partial from its sums and :meth:`extras` (whose context dicts it takes over:
        give it freshly decoded data)."""
        sketch = QuantileSketch.from_json(extras["s"]) if "s" in extras else None
        strata = extras.get("t") or None
        if strata is not None:
            strata = {str(k): [float(x) for x in v] for k, v in strata.items()}
        split = extras.get("y") or None
        if split is not None:
            split = {str(k): [float(v[0]), float(v[1])] for k, v in split.items()}
        return cls(
            float(num),
            float(den),
            sketch,
            extras.get("c") or None,
            extras.get("x") or None,
            strata,
            split,
        )


@dataclass(slots=True)  # not frozen: built once per series and window, frozen init is dear
class SealedPartial:
    """A final partial of one source for one series and window."""

    source: str
    rule: str
    dimension: str
    key: str
    window_start_ms: int
    window_end_ms: int
    partial: Partial

    @property
    def series(self) -> str:
        """The series id (``rule:dimension:key``)."""
        return series_id(self.rule, self.dimension, self.key)


@dataclass(frozen=True, slots=True)
class EventAlert:
    """A per-event rule's verdict on one event (e.g. an order far from its sku norm)."""

    source: str
    rule: str
    dimension: str
    key: str
    ts_ms: int
    decision: Decision
    context: dict[str, Any]

    @property
    def series(self) -> str:
        """The series id (``rule:dimension:key``)."""
        return series_id(self.rule, self.dimension, self.key)

    @property
    def route(self) -> str:
        """The series whose closer gets this verdict: the sku's (for ``order_outlier``'s
        roll-up per sku, which needs all of a sku's verdicts in one place), else its own."""
        if self.rule == "lost_parcel":
            carrier = self.context.get("carrier")
            return series_id(self.rule, "carrier", carrier) if carrier else self.series
        sku = self.context.get("sku") if self.rule == "order_outlier" else None
        return series_id(self.rule, "sku", sku) if sku else self.series


def _add_split(partial: Partial, split: dict[str, list[float]]) -> None:
    """Add per-cell ``[num, den]`` sums into ``partial.split`` (copying, sharing nothing)."""
    mine = partial.split
    if mine is None:
        partial.split = {cell: [sums[0], sums[1]] for cell, sums in split.items()}
        return
    for cell, (num, den) in split.items():
        _add_cell(mine, cell, num, den)


def _add_cell(split: dict[str, list[float]], cell: str, num: float, den: float) -> None:
    """Add ``num`` and ``den`` to ``cell``'s sums in ``split``."""
    sums = split.get(cell)
    if sums is None:
        split[cell] = [num, den]
    else:
        sums[0] += num
        sums[1] += den


def _add_weights(target: dict[str, float], weights: dict[str, float]) -> None:
    """Add ``weights`` into ``target``, value by value."""
    for value, weight in weights.items():
        target[value] = weight + target.get(value, 0)


def _top(counts: dict[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def _bounded(counts: dict[str, float], n: int, ordered: bool) -> dict[str, float]:
    """``counts``' top ``n`` entries, by weight then value; ``counts`` itself when it holds
    no more than ``n`` and no order is asked for."""
    if not ordered and len(counts) <= n:
        return counts
    return dict(_top(counts, n))


_Accumulators = dict[tuple[str, str], Partial]


class SourceAggregator:
    """Window partials and per-event verdicts for one input partition.

    Parameters
    ----------
    source
        The source's name, ``"<topic>/<partition>"``.
    topic
        Short topic name of the source.
    rules
        The configured rule set.
    """

    def __init__(self, source: str, topic: TopicName, rules: RuleSet) -> None:
        self.source = source
        self.topic = topic
        self.lateness_ms = rules.lateness_ms
        self.rules = rules.for_topic(topic)
        self._window_rules = [rule for rule in self.rules if rule.kind != "event"]
        #: Rules whose panes are shipped once, not merged into each window here.
        self._paned = frozenset(rule.name for rule in self._window_rules if ships_panes(rule))
        #: Per rule with compound cells under a dimension of its own: see :func:`cell_links`.
        self._cell_links = {
            rule.name: links for rule in self._window_rules if (links := cell_links(rule))
        }
        #: Per rule with ``set_apart``: its cell dimension and the dimensions that split
        #: their partials by cell (:mod:`streams.pipeline.set_apart`).
        self._apart = {
            rule.name: (rule.set_apart, rule.set_apart_in)
            for rule in self._window_rules
            if rule.set_apart is not None
        }
        self._event_rules = [
            rule for rule in self.rules if rule.kind == "event" and rule.name != "lost_parcel"
        ]
        self._lost_rule = next((r for r in self.rules if r.name == "lost_parcel"), None)
        #: Per-order lifecycle times of this partition (orders only, when a logistics rule
        #: is configured): see :mod:`streams.pipeline.order_state`.
        self.orders = _order_book(rules, self.rules) if topic == "orders" else None
        #: Newest event time seen; ``None`` before the first event.
        self.progress_ms: int | None = None
        #: A time more than ``JUMP_CONFIRM_MS`` past ``progress_ms`` seen once, held until
        #: a second such event confirms the jump (``None``: nothing held).
        self.ahead_ms: int | None = None
        #: Open windows: (rule name, window start) -> accumulators by (dimension, key).
        self.open: dict[tuple[str, int], _Accumulators] = {}
        #: First input offset that contributed to each open window (for safe commits).
        self.first_offset: dict[tuple[str, int], int] = {}
        #: ``progress_ms`` just before that first event: where a restart from there begins.
        self.first_progress: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        #: Per rule, the start of the newest sealed window (events for it are skipped).
        self.sealed_through: dict[str, int] = {}
        self._norms = {rule.name: _measure_norms(rule) for rule in self._event_rules}
        #: Per-event norm states: rule -> norm key (e.g. ``price|sku|SKU-1``) -> state.
        self.norm_states: dict[str, dict[str, NormState]] = {r.name: {} for r in self._event_rules}
        #: Per rule and norm key: end of the newest window folded into it (event time).
        self.norm_seen: dict[str, dict[str, int]] = {r.name: {} for r in self._event_rules}
        #: Norms evicted by (rule, reason) and norms not created (cap) by rule, since the
        #: last :meth:`drain_evictions`.
        self.evicted: Counter[tuple[str, str]] = Counter()
        self.folded: Counter[str] = Counter()
        #: Values of open windows waiting to be folded into the norms at seal time.
        self._norm_values: dict[tuple[str, int], dict[str, list[float]]] = {}
        #: End of the earliest window in ``_norm_values`` (fold nothing before it passes).
        self._next_norm_fold_ms: int | None = None
        #: Per (event class, order status): the window rules an event feeds and how.
        self._plans: dict[tuple[type, str | None], list[_RulePlan]] = {}
        #: Per rule: the hop slot of the last event and the accumulators of its windows.
        self._slot_cache: dict[str, tuple[int, list[_Accumulators]]] = {}
        #: Rules with a ``cohort``: remembered anchors (deliveries, placements) and the
        #: learned delay to the events they are the cohort of.
        self.cohorts = {
            rule.name: CohortMemory(
                rule.cohort_ms, rule.hop_ms, rule.dimension_names, _split_dimension(rule)
            )
            for rule in self._window_rules
            if rule.cohort_ms is not None
        }

    @property
    def watermark_ms(self) -> int | None:
        """Windows ending at or before this are sealed for this source."""
        return None if self.progress_ms is None else self.progress_ms - self.lateness_ms

    def add(self, event: Event, offset: int) -> tuple[bool, list[EventAlert]]:
        """Fold one event in; return ``(on_time, per_event_alerts)``."""
        ts = event.ts_ms
        book = self.orders
        if book is not None and isinstance(event, OrderEvent):
            book.check(event)  # raises InvalidEvent before anything changes
        previous_progress = self.progress_ms
        previous = (previous_progress, self.ahead_ms)
        if previous_progress is None or ts > previous_progress:
            progress = self._advance(previous_progress, ts)
            if progress != previous_progress:
                self.progress_ms = progress
                fold_at = self._next_norm_fold_ms
                if fold_at is not None and fold_at <= progress - self.lateness_ms:
                    self._fold_ready_norms(progress - self.lateness_ms)
        elif ts < previous_progress - self.lateness_ms:
            if book is not None and isinstance(event, OrderEvent):
                # Too late for any window, but its order's lifecycle still counts: a
                # delivery reported late is no lost parcel.
                book.observe(event)
            return False, []
        facts: OrderFacts | None = None
        lost: list[EventAlert] = []
        if book is not None and isinstance(event, OrderEvent):
            facts = book.observe(event)
            now = self.progress_ms
            if now is not None and now != previous_progress:
                book.sweep(now)
                due = book.next_due_ms
                if due is not None and due <= now - self.lateness_ms:
                    lost = self._lost_alerts(book.due_lost(now - self.lateness_ms))
        plan_key = (type(event), event.status if isinstance(event, OrderEvent) else None)
        plans = self._plans.get(plan_key)
        if plans is None:
            plans = self._plans[plan_key] = _plans_for(self._window_rules, event)
        for rule, num, den, read, share, early, key_plan in plans:
            keys = _series_keys(key_plan, event)
            if not keys:
                continue
            value = None
            age = None
            cohort = self.cohorts.get(rule.name)
            if cohort is not None and isinstance(event, OrderEvent):
                if early:
                    age = cohort.age(event.order_id, ts)
                    if age is None:
                        continue  # not an early return of a delivery this partition saw
                elif den:  # the rule's anchor: a delivery, a placement
                    cohort.remember(event.order_id, ts, keys)
            if read is not None:
                value = read(event, rule, facts)
                if value is None:
                    continue  # the event lacks the measured field
                if share:
                    num, value = (1.0 if value else 0.0), None  # noqa: PLW2901 - a share
            context = rule.context if num else ()
            # The value's stratum and its log, once per event (it counts in every window).
            stratum = (
                (getattr(event, rule.strata, None) or "", stratum_units(value))
                if rule.strata is not None and value is not None
                else None
            )
            windows = self._windows(rule, ts, offset, previous)
            if age is not None and windows:
                self.cohorts[rule.name].note(ts - ts % rule.hop_ms, age, keys)
            apart = self._apart.get(rule.name) if self._apart else None
            if apart is not None and windows:
                # Exposure replaces a lag-aware rule's deliveries at seal (per cell too).
                _split_event(windows, keys, apart, num, 0.0 if cohort is not None else den)
            for accumulators in windows:
                for series_key in keys:
                    acc = accumulators.get(series_key)
                    if acc is None:
                        acc = accumulators[series_key] = Partial()
                    if num:  # ``+= 0.0`` would allocate a float per window and key
                        acc.num += num
                    if den:
                        acc.den += den
                    if value is not None:
                        if acc.sketch is None:
                            acc.sketch = QuantileSketch()
                        acc.sketch.add(value)
                        if stratum is not None:
                            if acc.strata is None:
                                acc.strata = {}
                            add_to_stratum(acc.strata, *stratum)
                    if context:
                        _add_context(acc, context, event, num)
        if not self._event_rules:
            return True, lost
        alerts = [
            alert
            for rule in self._event_rules
            for alert in self._score_event(rule, event, offset, previous)
        ]
        return True, alerts + lost if lost else alerts

    def _lost_alerts(self, parcels: list[LostParcel]) -> list[EventAlert]:
        """``lost_parcel`` verdicts (dimension ``order``), stamped at their deadline: each
        an ``info`` trace request; the carrier's roll-up is what pages."""
        rule = self._lost_rule
        if rule is None:
            return []
        out = []
        for parcel in parcels:
            hours = (parcel.due_ms - parcel.shipped_ms) / 3_600_000
            decision = Decision(
                observed=hours,
                baseline=parcel.p90_hours,
                lower=None,
                upper=parcel.factor * parcel.p90_hours,
                score=1.0,
                anomaly_score=0.5,
                sample_size=None,
                ready=True,
                violating=True,
                direction="up",
                severity="info",
                alerting=True,
                transition="fire",
            )
            out.append(
                EventAlert(
                    self.source,
                    rule.name,
                    "order",
                    parcel.order_id,
                    parcel.due_ms,
                    decision,
                    {
                        "measure": "transit",
                        "carrier": parcel.carrier,
                        "region": parcel.region,
                        "shipped_at_ms": parcel.shipped_ms,
                    },
                )
            )
        return out

    def _advance(self, progress: int | None, ts: int) -> int:
        """Progress after an event at ``ts`` newer than ``progress``: a jump of more than
        ``JUMP_CONFIRM_MS`` waits for a second event past the same bound (then moves to
        the earlier of the two), so a single wrong clock cannot move the watermark."""
        if progress is None or ts - progress <= JUMP_CONFIRM_MS:
            if self.ahead_ms is not None and self.ahead_ms <= ts:
                self.ahead_ms = None
            return ts
        held = self.ahead_ms
        if held is None:
            self.ahead_ms = ts
            return progress
        self.ahead_ms = None
        return min(held, ts)

    def _windows(
        self, rule: RuleSpec, ts: int, offset: int, previous_progress: tuple[int | None, int | None]
    ) -> list[_Accumulators]:
        """The accumulators of the hop slot (*pane*) that holds ``ts``, or none when every
        window holding it is sealed.

        A window is the merge of its panes at seal time (:meth:`seal`), so an event updates
        one partial per series instead of one per overlapping window: a 1-day window that
        hops every 6 hours kept four copies of every key (Li et al., "No pane, no gain",
        SIGMOD Record 34(1), 2005). Cached per slot: all events of one slot share the pane,
        and none of them can have been sealed meanwhile (an event in a sealed window is late).
        """
        slot = ts - ts % rule.hop_ms
        cached = self._slot_cache.get(rule.name)
        if cached is not None and cached[0] == slot:
            return cached[1]
        windows = []
        # The newest window holding the pane starts at the pane: sealed, so are the others.
        if slot > self.sealed_through.get(rule.name, -1 << 62):
            pane = (rule.name, slot)
            accumulators = self.open.get(pane)
            if accumulators is None:
                accumulators = self.open[pane] = {}
                self.first_offset[pane] = offset
                self.first_progress[pane] = previous_progress
            windows.append(accumulators)
        self._slot_cache[rule.name] = (slot, windows)
        return windows

    def seal(self) -> list[SealedPartial]:
        """Return the partials of every window the watermark has passed, oldest first.

        A window's partial per series is the merge of its panes' (sums and sketch merges,
        order-independent); a pane is dropped with the last window that holds it, the one
        starting at the pane. A rule that ships panes (:func:`ships_panes`) instead ships
        each pane once, as soon as the watermark passes its end (with the first window
        that ends there), and drops it: the closer unites a window's panes.
        """
        watermark = self.watermark_ms
        if watermark is None:
            return []
        self._fold_ready_norms(watermark)
        ready: set[tuple[int, str, int]] = set()
        paned = self._paned
        for rule_name, pane in self.open:
            rule = self._rule(rule_name)
            window_ms, hop_ms = rule.window_ms, _pane_ms(rule)
            sealed_through = self.sealed_through.get(rule_name, -1 << 62)
            if rule_name in paned:
                if pane > sealed_through and pane + hop_ms <= watermark:
                    ready.add((pane + hop_ms, rule_name, pane))
                continue
            for start in range(pane - window_ms + hop_ms, pane + 1, hop_ms):
                if start > sealed_through and start + window_ms <= watermark:
                    ready.add((start + window_ms, rule_name, start))
        for rule_name, memory in self.cohorts.items():
            # Exposed windows seal although none of their events came through this source.
            rule = self._rule(rule_name)
            for start in memory.windows(
                self.sealed_through.get(rule_name), rule.window_ms, rule.hop_ms, watermark
            ):
                ready.add((start + rule.window_ms, rule_name, start))
        sealed: list[SealedPartial] = []
        if ready:
            self._slot_cache.clear()
        for end, rule_name, start in sorted(ready):
            hop_ms = _pane_ms(self._rule(rule_name))
            window = (rule_name, start)
            links = self._cell_links.get(rule_name)
            if rule_name in paned:  # one pane, ``[start, end)``, shipped once
                pane_partials = self.open.pop(window)
                if links:
                    _note_cells(links, pane_partials)
                for (dimension, key), partial in sorted(pane_partials.items()):
                    sealed.append(
                        SealedPartial(self.source, rule_name, dimension, key, start, end, partial)
                    )
                self.first_offset.pop(window, None)
                self.first_progress.pop(window, None)
                self.sealed_through[rule_name] = start  # panes seal in order
                continue
            # The oldest pane's last window is this one: its partials take the others in.
            merged = self.open.pop(window, None) or {}
            for pane in range(start + hop_ms, end, hop_ms):
                accumulators = self.open.get((rule_name, pane))
                if not accumulators:
                    continue
                for series_key, partial in accumulators.items():
                    target = merged.get(series_key)
                    if target is None:
                        merged[series_key] = partial.copy()
                    else:
                        target.merge(partial)
            delivered = self.cohorts.get(rule_name)
            if delivered is not None:
                apart = self._apart.get(rule_name)
                if apart is None:
                    _expose(merged, delivered.exposure(start, end))
                else:
                    whole, by_cell = delivered.exposure_with_cells(start, end, *apart)
                    _expose(merged, whole)
                    _expose_cells(merged, by_cell)
                delivered.sealed(start)
            if links:
                _note_cells(links, merged)
            for (dimension, key), partial in sorted(merged.items()):
                sealed.append(
                    SealedPartial(self.source, rule_name, dimension, key, start, end, partial)
                )
            self.first_offset.pop(window, None)
            self.first_progress.pop(window, None)
            if start > self.sealed_through.get(rule_name, -1 << 62):
                self.sealed_through[rule_name] = start
        return sealed

    def _fold_ready_norms(self, watermark: int) -> None:
        """Fold every per-event window the watermark has passed into its norms, in order.

        Runs inside :meth:`add` as soon as the source's progress moves, so the norm an
        event is scored against depends only on the source's own events, never on how
        the runtime batches :meth:`seal` calls.
        """
        ready = sorted(
            (start, rule)
            for rule, start in self._norm_values
            if start + self._rule(rule).window_ms <= watermark
        )
        if not ready:
            return
        for start, rule_name in ready:
            window = (rule_name, start)
            self._fold_norms(
                rule_name, self._norm_values.pop(window), start + self._rule(rule_name).window_ms
            )
            self.open.pop(window, None)
            self.first_offset.pop(window, None)
            self.first_progress.pop(window, None)
            if start > self.sealed_through.get(rule_name, -1 << 62):
                self.sealed_through[rule_name] = start
        self._next_norm_fold_ms = min(
            (start + self._rule(rule).window_ms for rule, start in self._norm_values), default=None
        )

    def min_open_offset(self) -> int | None:
        """Smallest input offset any open window depends on (commit up to it, not past)."""
        return min(self.first_offset.values(), default=None)

    def snapshot(self, position: int) -> bytes:
        """State to resume from: re-reading starts at the first offset an open window needs
        (or ``position``), with the progress, sealed windows and norms of that moment
        (layout: :mod:`streams.pipeline.aggregate_snapshot`)."""
        resume, progress = position, self.progress_ms
        if self.first_offset:
            window = min(self.first_offset, key=lambda w: (self.first_offset[w], w))
            resume, (progress, ahead) = self.first_offset[window], self.first_progress[window]
        else:
            ahead = self.ahead_ms
        small: dict[str, Any] = {
            "resume_offset": resume,
            "progress_ms": progress,
            "ahead_ms": ahead,
            "sealed_through": self.sealed_through,
        }
        order_arrays: list[bytes] = []
        if self.orders is not None:
            # Per-order state as of ``position``: re-read events find their order's times
            # (streams.pipeline.order_state keeps finished orders long enough to measure
            # them again).
            small["orders"] = self.orders.header()
            order_arrays = self.orders.arrays()
        return encode_snapshot(
            small,
            {rule: (states, self.norm_seen[rule]) for rule, states in self.norm_states.items()},
            # Delivery memories (``streams.pipeline.cohorts``), after the norms' arrays.
            [(rule, memory.to_bytes()) for rule, memory in sorted(self.cohorts.items())],
            order_arrays,
        )

    def restore(self, data: bytes) -> int:
        """Load a :meth:`snapshot` into this (fresh) aggregator; return the offset to resume at.

        Windows up to ``sealed_through`` were already shipped, so their events are skipped
        when re-read; norms continue from where they were. The JSON-only snapshots of
        earlier versions are still read.
        """
        read = read_snapshot(data)
        state = read.state
        if self.orders is not None and "orders" in state and read.orders_at is not None:
            self.orders.load(state["orders"], data, read.orders_at)
        self.progress_ms = state["progress_ms"]
        for rule, blob in read.cohorts.items():
            if rule in self.cohorts:
                self.cohorts[rule].load(blob)
        self.ahead_ms = state.get("ahead_ms")
        self.sealed_through = {k: int(v) for k, v in state["sealed_through"].items()}
        # Snapshots from before eviction hold no fold times: fed at the snapshot's watermark.
        default_seen = -1 if self.watermark_ms is None else self.watermark_ms
        for rule, (states, times) in read.norms.items():
            if rule in self.norm_states:
                self.norm_states[rule] = states
                self.norm_seen[rule] = {
                    key: default_seen if fed is None else fed for key, fed in times.items()
                }
                self._evict_norms(self._rule(rule), None)
        return int(state["resume_offset"])

    # -- per-event rules -------------------------------------------------------------------

    def _score_event(
        self,
        rule: RuleSpec,
        event: Event,
        offset: int,
        previous_progress: tuple[int | None, int | None],
    ) -> Iterator[EventAlert]:
        if not isinstance(event, OrderEvent) or event.status != "placed":
            return
        norms = self._norms[rule.name]
        states = self.norm_states[rule.name]
        start = _window_starts(event.ts_ms, rule.window_ms, rule.window_ms)[0]
        window = (rule.name, start)
        if start <= self.sealed_through.get(rule.name, -1 << 62):
            return
        if window not in self.first_offset and window not in self.open:
            self.first_offset[window] = offset
            self.first_progress[window] = previous_progress
            self.open[window] = {}
        pending = self._norm_values.get(window)
        if pending is None:
            pending = self._norm_values[window] = {}
            end = start + rule.window_ms
            if self._next_norm_fold_ms is None or end < self._next_norm_fold_ms:
                self._next_norm_fold_ms = end
        for measure, value in _outlier_values(event):
            norm = norms[measure]
            keys = [f"{measure}|sku|{event.sku}"] if event.sku else []
            if event.category and measure == "quantity":
                # Quantities behave alike across a category; prices do not (a category
                # spans cheap and dear products), so prices use the sku's own norm only.
                keys.append(f"{measure}|category|{event.category}")
            for norm_key in keys:
                pending.setdefault(norm_key, []).append(value)
            decision = None
            for norm_key in keys:  # the sku's own norm first, the category's while it is new
                state = states.get(norm_key)
                if state is not None and state.n >= norm.grace_period:
                    if norm.violates(state, value):  # the full decision only when it fires
                        decision = norm.score(state, value)
                        basis = norm_key
                    break
            if decision is None or not decision.violating:
                continue
            yield EventAlert(
                self.source,
                rule.name,
                "order",
                event.order_id,
                event.ts_ms,
                decision,
                {
                    "measure": measure,
                    "norm": basis.split("|", 1)[1],
                    "sku": event.sku,
                    "category": event.category,
                    "quantity": event.quantity,
                    "amount": event.amount,
                },
            )

    def _fold_norms(self, rule_name: str, values: dict[str, list[float]], end_ms: int) -> None:
        if rule_name not in self._norms:
            return
        norms, states = self._norms[rule_name], self.norm_states[rule_name]
        seen = self.norm_seen[rule_name]
        rule = self._rule(rule_name)
        for norm_key in sorted(values):
            norm = norms[norm_key.split("|", 1)[0]]
            state = states.get(norm_key)
            if state is None:
                if len(states) >= rule.max_series:
                    self.folded[rule_name] += 1
                    continue
                state = states[norm_key] = norm.new_state()
            norm.update(state, values[norm_key])
            seen[norm_key] = end_ms
        self._evict_norms(rule, end_ms)

    def _evict_norms(self, rule: RuleSpec, now_ms: int | None) -> None:
        """Drop norms not fed since ``now_ms - idle_ttl`` (skipped when ``None``), then the
        least recently fed beyond ``max_series`` (a lowered cap)."""
        states, seen = self.norm_states[rule.name], self.norm_seen[rule.name]
        if now_ms is not None:
            cutoff = now_ms - rule.idle_ttl_ms
            idle = [key for key, fed in seen.items() if fed <= cutoff]
            for key in idle:
                del states[key], seen[key]
            if idle:
                self.evicted[(rule.name, "ttl")] += len(idle)
            if len(idle) > len(states):
                # A dict keeps its table after deletions: copy it once most entries are gone.
                states = self.norm_states[rule.name] = dict(states)
                seen = self.norm_seen[rule.name] = dict(seen)
            if idle:
                note_evictions(len(idle))
        excess = len(states) - rule.max_series
        if excess > 0:
            for key in sorted(states, key=lambda k: (seen.get(k, -1), k))[:excess]:
                del states[key]
                seen.pop(key, None)
            self.evicted[(rule.name, "cap")] += excess

    def drain_evictions(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """Norms evicted by (rule, reason) and not created by rule since the last call."""
        evicted, folded = self.evicted, self.folded
        self.evicted, self.folded = Counter(), Counter()
        if self.orders is not None:
            for reason, n in self.orders.drain_evictions().items():
                evicted[("order_state", reason)] += n
        return evicted, folded

    def _rule(self, name: str) -> RuleSpec:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def _order_book(rules: RuleSet, mine: tuple[RuleSpec, ...]) -> OrderBook | None:
    """The partition's order book when a rule needs per-order state, else ``None``.

    A finished order is kept as long as the longest such window plus the lateness, so a
    re-read delivery or refund (after a restart) still finds its start time.
    """
    users = [rule for rule in mine if rule.definition.order_state]
    if not users:
        return None
    keep_ms = max(rule.window_ms for rule in users) + rules.lateness_ms
    lost = next((rule for rule in users if rule.name == "lost_parcel"), None)
    return OrderBook(
        rules.order_state_max,
        rules.order_state_ttl_ms,
        keep_ms,
        None if lost is None else lost.lost_factor,
        0 if lost is None else lost.lost_warmup_ms,
        1.0 if lost is None else lost.lost_alone,
    )


def ships_panes(rule: RuleSpec) -> bool:
    """Whether stage 1 ships ``rule``'s hop-sized panes once each, for the closer to unite
    per window (:meth:`SourceAggregator.seal`, :class:`~streams.pipeline.closer.WindowCloser`),
    instead of every window's merged partial (``window / hop`` copies of each key).

    Only where uniting panes in the closer gives what the window's partial gave: hopping
    windows (``window > hop``) of count and ratio rules, whose sums are of whole numbers
    (exact in any order), without cells set apart, without delivery cohorts (their
    exposure is the window's, not a sum over panes), and without context unless judged
    per entity. Not percentile rules: the log-mean statistic sums over a sketch's buckets
    in insertion order, which depends on the merge order, so its floats could differ in
    the last bit. Not contexts of series
    rules: a source's context is cut to its top entries per partial, and the top of a
    window is not the top of its panes' tops (an entity's context is its customer ids,
    see :data:`_CONTEXT_TOP_BY_FIELD`).
    """
    return (
        rule.window_ms > rule.hop_ms
        and rule.kind in ("count", "ratio")
        and rule.cohort_ms is None
        and rule.set_apart is None
        and (not rule.context or rule.definition.entity is not None)
    )


def _pane_ms(rule: RuleSpec) -> int:
    """The span of one pane of ``rule``'s open state: its hop (a per-event rule's windows
    tumble)."""
    return rule.window_ms if rule.kind == "event" else rule.hop_ms


def _window_starts(ts_ms: int, window_ms: int, hop_ms: int) -> list[int]:
    """Starts of every window ``[s, s + window)`` with ``s % hop == 0`` that holds ``ts``."""
    last = ts_ms - ts_ms % hop_ms
    if hop_ms == window_ms:
        return [last]
    return list(range(last - window_ms + hop_ms, last + 1, hop_ms))


_KeyPlan = tuple[tuple[str, tuple[str, ...] | None], ...]
_Read = Callable[[Any, RuleSpec, OrderFacts | None], float | None]
#: How one event feeds one window rule, resolved once per event class and order status
#: from the rule's :class:`~streams.rules.spec.Feed`: (rule, numerator, denominator,
#: the measure's ``read`` or ``None``, whether the measure is a share, counted only as an
#: early event of its anchor's cohort, e.g. a return of its delivery; keys).
_RulePlan = tuple[RuleSpec, float, float, _Read | None, bool, bool, _KeyPlan]


def _key_plan(rule: RuleSpec, denominator_only: bool = False) -> _KeyPlan:
    """``rule``'s dimensions as ``(name, event attributes or None for total)``. A
    denominator-only event feeds a shared-denominator dimension through ``()``, the key
    :data:`SHARED_KEY`, and a compound dimension with a shared part (``region,carrier,
    reason``) through ``""`` in that part's place: its key holds :data:`SHARED_KEY` there
    (``south,ZTO,__denominator__``), the denominator of the cell's every reason."""
    shared = rule.definition.shared_denominator if denominator_only else frozenset()
    return tuple(
        (
            ",".join(parts),
            None
            if parts == ("total",)
            else ()
            if len(parts) == 1 and parts[0] in shared
            else tuple("" if p in shared else DIMENSION_FIELDS[p] for p in parts),
        )
        for parts in rule.dimensions
    )


def _split_dimension(rule: RuleSpec) -> str | None:
    """The shared-denominator dimension of a lag-aware rule whose keys learn their own
    delay (``cancellation_rate``'s ``reason``), or ``None``."""
    shared = rule.definition.shared_denominator
    return next((name for name in rule.dimension_names if name in shared), None)


def _plans_for(rules: list[RuleSpec], event: Event) -> list[_RulePlan]:
    """The window rules an event of this class (and order status) feeds and how, from
    each rule's declared feeds (:attr:`streams.rules.spec.Rule.feeds`), resolved once: the
    hot path must not re-derive them per event."""
    plans: list[_RulePlan] = []
    key = (type(event), event.status if isinstance(event, OrderEvent) else None)
    for rule in rules:
        feed = rule.definition.feeds.get(key)
        if feed is None:
            continue
        # With a cohort, the feed counts only early returns (decided per event); its
        # measure is then the cohort's, not the feed's.
        early = feed.cohort and rule.cohort_ms is not None
        measure = None if early else feed.measure
        den_only = feed.num == 0.0 and measure is None and not early
        plans.append(
            (
                rule,
                feed.num,
                feed.den,
                None if measure is None else measure.read,
                measure is not None and measure.kind == "share",
                early,
                _key_plan(rule, den_only),
            )
        )
    return plans


def _series_keys(plan: _KeyPlan, event: Event) -> list[tuple[str, str]]:
    """The ``(dimension, key)`` series an event belongs to; a missing or empty value skips
    its dimension."""
    keys = []
    for name, fields in plan:
        if fields is None:
            keys.append((name, TOTAL_KEY))
        elif not fields:
            keys.append((name, SHARED_KEY))
        elif len(fields) == 1:
            value = getattr(event, fields[0], None)
            if value:
                keys.append((name, value))
        else:
            values: list[str] = [
                (getattr(event, f, None) or "") if f else SHARED_KEY for f in fields
            ]
            if all(values):
                key = ",".join(values)
                if "\\" in key or key.count(",") != len(values) - 1:
                    key = join_key(values)  # a value holds the separator: escape it
                keys.append((name, key))
    return keys


#: Per compound dimension, ``(index of a part, that part's own dimension)`` for every
#: part that is also a dimension of the rule: cell ``EU-West,PostNL`` of ``region,carrier``
#: lies under region ``EU-West`` and carrier ``PostNL``.
CellLinks = dict[str, tuple[tuple[int, str], ...]]


def cell_links(rule: RuleSpec) -> CellLinks:
    """The compound dimensions of ``rule`` whose parts are dimensions of it too."""
    single = {parts[0] for parts in rule.dimensions if len(parts) == 1}
    shared = rule.definition.shared_denominator
    links: CellLinks = {}
    for parts in rule.dimensions:
        # A cell with a shared part (a reason of a region x carrier) divides by its
        # cell's denominator, which the shared key carries: it is no cell of its own.
        if len(parts) > 1 and not shared.intersection(parts):
            under = tuple((i, part) for i, part in enumerate(parts) if part in single)
            if under:
                links[",".join(parts)] = under
    return links


def _note_cells(links: CellLinks, accumulators: _Accumulators) -> None:
    """Give each series with cells under it the denominator of each of them, in place
    (one source, one window or pane: sums stay exact across sources and panes)."""
    for (dimension, key), partial in accumulators.items():
        under = links.get(dimension)
        if under is None or not partial.den:
            continue
        parts = split_key(key)
        for index, parent_dimension in under:
            parent = accumulators.get((parent_dimension, parts[index]))
            if parent is None:
                continue
            cells = parent.cells
            if cells is None:
                cells = parent.cells = {}
            cells[key] = partial.den + cells.get(key, 0.0)


def is_twin(partial: Partial) -> bool:
    """Whether the window's whole denominator lies in one compound cell under the series
    (carrier ``PostNL`` delivered only in ``EU-West``): the series and that cell then
    measure the same events, and only the more specific cell may open an episode."""
    cells = partial.cells
    if not cells or partial.den <= 0:
        return False
    return max(cells.values()) >= partial.den * (1 - 1e-9)


def _split_event(
    windows: list[_Accumulators],
    keys: list[tuple[str, str]],
    apart: tuple[str, tuple[str, ...]],
    num: float,
    den: float,
) -> None:
    """Add one event's ``num`` and ``den`` to the cell split of each of its series in the
    ``set_apart_in`` dimensions (an event outside any cell adds to none)."""
    if not (num or den):
        return  # a lag-aware rule's delivery: its den comes with the exposure at seal
    cell_dimension, within = apart
    cell = next((key for dimension, key in keys if dimension == cell_dimension), None)
    if cell is None:
        return
    for accumulators in windows:
        for series_key in keys:
            if series_key[0] not in within:
                continue
            acc = accumulators.get(series_key)
            if acc is None:
                acc = accumulators[series_key] = Partial()
            split = acc.split
            if split is None:
                split = acc.split = {}
            _add_cell(split, cell, num, den)


def _expose_cells(merged: _Accumulators, exposure: dict[tuple[str, str], dict[str, float]]) -> None:
    """Give every split series its per-cell exposure as the cells' denominators (the
    event path added none: :func:`_split_event` gets ``den = 0`` for a lag-aware rule)."""
    for series_key, by_cell in exposure.items():
        exposed = merged.get(series_key)
        if exposed is None:
            continue  # ``_expose`` gave every exposed series a partial
        split = exposed.split
        if split is None:
            split = exposed.split = {}
        for cell, value in by_cell.items():
            _add_cell(split, cell, 0.0, value)


def _expose(merged: _Accumulators, exposure: dict[tuple[str, str], float]) -> None:
    """Replace every series' deliveries by its exposure (``streams.pipeline.cohorts``); a series
    exposed without events in the window gets a partial of its own."""
    for series_key, partial in merged.items():
        partial.den = exposure.get(series_key, 0.0)
    for series_key, value in exposure.items():
        if series_key not in merged:
            merged[series_key] = Partial(0.0, value)


def _add_context(acc: Partial, context: tuple[str, ...], event: Event, weight: float) -> None:
    for name in context:
        value = getattr(event, name, None)
        if value:
            by_name = acc.context
            if by_name is None:
                by_name = acc.context = {}
            counts = by_name.get(name)
            if counts is None:
                by_name[name] = {value: weight}
            else:
                counts[value] = counts.get(value, 0) + weight


def _measure_norms(rule: RuleSpec) -> dict[str, EventNorm]:
    """The unit-price norm as configured; quantities are discrete and mostly 1, so their
    norm gets a wide floor (±50 % in log units), watches only upward and ignores
    quantities up to 4."""
    params = dict(rule.norm)
    quantity = {**params, "min_scale": 0.5, "direction": "up", "guard_above": 4.0}
    return {"unit_price": EventNorm(**params), "quantity": EventNorm(**quantity)}


def _outlier_values(event: OrderEvent) -> list[tuple[str, float]]:
    values = []
    if event.amount is not None and event.quantity:
        unit_price = event.amount / event.quantity
        if unit_price > 0 and math.isfinite(unit_price):
            values.append(("unit_price", unit_price))
    if event.quantity:
        values.append(("quantity", float(event.quantity)))
    return values
