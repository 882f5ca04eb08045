"""Stage 2: merge partials per series and window, close windows, decide, run episodes.

Size: one class, :class:`WindowCloser`, whose window close, admission and eviction
and episode bookkeeping share its per-series state. The snapshot layout
(:mod:`streams.pipeline.closer_snapshot`), judging one window
(:mod:`streams.pipeline.window_judge`) and the entity rules' population state
(:mod:`streams.pipeline.population`) live apart.

A :class:`WindowCloser` owns a set of series (in Kafka: one partition of the
partials topic, keyed by series). It receives

* sealed partials from every source (input partition) that saw the series,
* every source's watermark (broadcast to all partials partitions),
* per-event verdicts of per-event rules,

and closes a rule's window ``[start, end)`` once ``end`` is at or before the
*minimum* watermark over all partitions of the rule's input topics. A close
evaluates every known series of the rule, including those that received no
events in the window, so an order drop to zero fires although nothing arrived.

Determinism: a partial is final when it arrives, merging is order-independent,
and each series' windows are closed in order; so the decisions of a series do
not depend on partition interleaving or on which other series share its closer.
Duplicate partials (a source re-reading after a restart) are ignored: first wins.

Panes: for rules where :func:`~streams.pipeline.aggregate.ships_panes` holds, a source
ships each hop-sized pane ``[k*hop, (k+1)*hop)`` once instead of every window's partial.
The closer keeps each source's panes until the last window holding them closes, and at
a window's close unites, per series and source, the window's ``window / hop`` panes
(cutting the context to the top entries a source's window partial kept on the wire),
then merges the sources as before. A whole window's partial of a source (sent by an
older version before an upgrade) wins over that source's panes of the window. A pane
arriving after every window holding it closed is late like a late window partial
(counted, dropped). The entity rules see their keys in sorted order, whatever order
the panes arrived in.

Bounded state: a rule keeps at most ``max_series`` series, spread evenly over the
``shards`` (the partials topic's partitions; a Kafka closer owns one, ``replay``'s
closer all of them, so both count alike). A new key beyond its shard's share folds
into the dimension's overflow series ``__other__.<shard>``. After each window close,
a series with no data for ``idle_ttl`` of event time is evicted (reason ``ttl``), and
a shard holding more than its share (the cap was lowered) loses its least recently
seen series (reason ``cap``). A series with an open episode is never evicted; one
that comes back after eviction starts fresh. Everything is driven by window closes,
so a replay, a Kafka worker and a restart from a snapshot evict the same series.
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from alerts.episodes import EpisodeState, advance, instant_alert
from alerts.incidents import IncidentFolder
from alerts.model import AlertEvent, SeriesRef
from alerts.text import AlertTexts
from streams.contract.events import TopicName
from streams.pipeline import closer_snapshot as codec
from streams.pipeline import log_mean, window_judge
from streams.pipeline.aggregate import (
    EventAlert,
    Partial,
    SealedPartial,
    is_twin,
    series_id,
    ships_panes,
)
from streams.pipeline.closer_snapshot import BySeries
from streams.pipeline.dedup import RecentIds
from streams.pipeline.heap import note_evictions
from streams.pipeline.oncall import OnCall, with_standing_peers
from streams.pipeline.population import Population, burst_context, verdict_decision
from streams.pipeline.set_apart import set_apart
from streams.pipeline.sku_rollup import SkuRollup
from streams.pipeline.wire import closer_partition
from streams.risk.scorer import EVICTION_RULE, RiskScorer
from streams.risk.shard import RiskShard, risk_sources
from streams.rules.catalogue import RuleSet, RuleSpec
from thresholds.bank import SeriesBank
from thresholds.decision import Decision
from thresholds.engine import Outcome
from thresholds.entity_rate import BurstVerdict
from thresholds.kinds import quantile_noise

__all__ = ["OVERFLOW_KEY", "Closed", "WindowCloser", "overflow_key"]

_NEVER = -(1 << 62)
#: Key prefix of the overflow series that keys beyond a rule's cap fold into.
OVERFLOW_KEY = "__other__"


def overflow_key(shard: int) -> str:
    """The overflow series' key in closer partition ``shard``: ``__other__.<shard>``."""
    return f"{OVERFLOW_KEY}.{shard}"


@dataclass(frozen=True, slots=True)
class Closed:
    """The latest decision of one series, for metrics and reports."""

    rule: str
    dimension: str
    key: str
    window_start_ms: int
    window_end_ms: int
    decision: Decision
    alerting: bool


class WindowCloser:
    """Close windows for the series this closer owns.

    Parameters
    ----------
    rules
        The configured rule set.
    partitions
        Number of partitions of each input topic: every one of them is a source
        whose watermark gates the rules reading that topic.
    texts
        Summary and runbook texts.
    shards
        Partitions of the partials topic: each rule's ``max_series`` is split evenly
        over them, wherever they are closed.
    oncall
        Mute timings, promotion calendar and feedback multipliers
        (:mod:`streams.pipeline.oncall`); default: the rules file's mutes only.
    folder
        The worker's incident folder (:mod:`alerts.incidents`): the snapshot keeps the
        open incidents of this closer's open episodes, and a restore hands them back.
    """

    def __init__(
        self,
        rules: RuleSet,
        partitions: Mapping[TopicName, int],
        texts: AlertTexts,
        on_closed: Callable[[Closed], None] | None = None,
        *,
        shards: int = 1,
        oncall: OnCall | None = None,
        risk: bool = False,
        folder: IncidentFolder | None = None,
    ) -> None:
        self.rules = rules
        self.folder = folder
        #: This partition's per-order risk scorer (streams.risk), when the worker runs it.
        self.risk = (
            RiskShard(risk_sources(partitions), RiskScorer(max_keys=rules.risk_max_keys))
            if risk
            else None
        )
        self.texts = texts.with_runbooks(
            {rule.name: rule.runbook for rule in rules.rules if rule.runbook}
        )
        self._sources = {
            rule.name: tuple(
                f"{topic}/{p}" for topic in rule.topics for p in range(partitions[topic])
            )
            for rule in rules.rules
        }
        #: Rules whose series route by the rule's name, each with the dimensions that still
        #: route by series id (see ``wire.closer_partition``).
        self._colocated = {
            rule.name: rule.definition.spread for rule in rules.rules if rule.definition.colocated
        }
        #: Rules whose shared-denominator dimensions route by ``rule:dimension``.
        self._shared = {
            rule.name: rule.definition.shared_denominator
            for rule in rules.rules
            if rule.definition.shared_denominator
        }
        self.banks = {
            rule.name: SeriesBank(rule.detector)
            for rule in rules.rules
            if rule.detector is not None and not rule.definition.entity
        }
        self.watermarks: dict[str, int] = {}
        self.closed_through: dict[str, int] = {}
        self.pending: dict[tuple[str, int], BySeries] = {}
        #: Rules whose sources ship panes (see the module doc), with their window lengths.
        self._paned = {rule.name: rule.window_ms for rule in rules.rules if ships_panes(rule)}
        #: Panes of those rules by (rule, pane start), kept until their last window closes.
        self.panes: dict[tuple[str, int], BySeries] = {}
        self.episodes: dict[str, EpisodeState] = {}
        #: The firing event of every open episode (re-exported to Prometheus after a restart).
        self.open_alerts: dict[str, AlertEvent] = {}
        self.streak_start: dict[str, int] = {}
        self.latest: dict[str, Closed] = {}
        #: Windows closed so far: ``latest`` changes only when this grows (an exporter of
        #: ``latest`` can skip rebuilding its view while it does not).
        self.windows_closed = 0
        self.event_alerts = RecentIds(100_000)
        #: Per-event rules with the ``sku`` dimension: their verdicts rolled up per SKU.
        self.rollups = {
            rule.name: SkuRollup(
                rule.name,
                rule.sku_window_ms,
                self.texts,
                "carrier" if ("carrier",) in rule.dimensions else "sku",
                rule.rollup_min,
                learn_rate=rule.definition.rollup_learns_rate,
            )
            for rule in rules.rules
            if rule.kind == "event" and ({("sku",), ("carrier",)} & set(rule.dimensions))
        }
        #: Partials that arrived for an already closed window (counted, dropped).
        self.late_partials = 0
        #: Called with every series' decision at every window close (e.g. for reports).
        self.on_closed = on_closed
        self.shards = shards
        #: Per rule and shard: series held, overflow series not counted.
        self.admitted: dict[str, Counter[int]] = {rule: Counter() for rule in self.banks}
        #: Series evicted by (rule, reason) and keys folded into overflow by rule, since
        #: the last :meth:`drain_evictions`.
        self.evicted: Counter[tuple[str, str]] = Counter()
        self.folded: Counter[str] = Counter()
        #: The entity rules' own state (bursts, shared addresses, frequent returners).
        self.population = Population(self._shard, self._shard_cap)
        self.oncall = oncall if oncall is not None else OnCall(rules.mutes)
        #: Series decided in a muted window since their last unmuted one: at that one their
        #: episode catches up with the engine (fires or resolves what the mute held back).
        self.muted_series: set[str] = set()
        #: Decisions a mute kept from alerting (out of band, or a fire or resolve), by
        #: (mute name, rule), since the last :meth:`drain_suppressed`.
        self.suppressed: Counter[tuple[str, str]] = Counter()
        #: Per rule, episodes not opened on a series whose window was one cell's twin.
        self.twins: Counter[str] = Counter()
        #: Per rule, windows judged without a cell that stood out of them (``set_apart``).
        self.set_apart_windows: Counter[str] = Counter()
        #: Percentile rules decided on log-means: each series' learned within-window spread.
        self.spreads = log_mean.SpreadMemory()
        #: Start of the hop that held each rule's first events: its windows settle from
        #: there (``RuleSpec.settle_ms``). A closer shard counts from its own first series.
        self.started_at: dict[str, int] = {}

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything this closer decides from, as bytes (see :meth:`restore`).

        Layout (:mod:`streams.pipeline.closer_snapshot`): ``SNAPSHOT_MAGIC``, a 4-byte
        little-endian length, a JSON document of the small state (``banks`` lists each
        rule with its blob's length), then the banks'
        :meth:`~thresholds.bank.SeriesBank.export_all` blobs, raw, then the held panes as
        MessagePack (``panes_bytes``), then the numerators and denominators of the plain
        pending partials (``pending_plain``: no sketch, no context) as two float64 arrays,
        then the risk shard's MessagePack. Base64 inside JSON (the older form, still read)
        cost about half the encode time of a large closer; a key flood leaves 100,000s of
        plain partials pending at a window's close, one JSON object each cost most of a
        second on the event loop. A closer holds up to a window of panes (a day of
        addresses with their customer ids for ``shared_address``): as JSON rows in the
        header they cost 30 times the encode time of the rest after a day and a half.
        A snapshot with panes is not read by versions before them (trailing bytes:
        refused loudly).
        """
        blobs = [(rule, bank.export_all()) for rule, bank in sorted(self.banks.items())]
        rich, plain, nums, dens = codec.partials_table(self.pending)
        panes = codec.encode_panes(codec.pane_rows(self.panes))
        state = {
            "banks": [[rule, len(blob)] for rule, blob in blobs],
            "watermarks": self.watermarks,
            "closed_through": self.closed_through,
            "pending": rich,
            "pending_plain": plain,
            "panes_bytes": len(panes),
            "episodes": {sid: episode.to_dict() for sid, episode in sorted(self.episodes.items())},
            "open_alerts": {
                sid: event.to_dict() for sid, event in sorted(self.open_alerts.items())
            },
            "streak_start": self.streak_start,
            "event_alerts": self.event_alerts.items(),
            "late_partials": self.late_partials,
            **self.population.snapshot(),
            "oncall": self.oncall.snapshot(),
            "incidents": ([] if self.folder is None else self.folder.snapshot(self.open_alerts)),
            "muted": sorted(self.muted_series),
            "rollups": {name: rollup.to_dict() for name, rollup in sorted(self.rollups.items())},
            "spreads": {sid: list(v) for sid, v in sorted(self.spreads.table.items())},
            "levels": {
                sid: {name: list(v) for name, v in sorted(levels.items())}
                for sid, levels in sorted(self.spreads.levels.items())
            },
            "started_at": self.started_at,
        }
        # The risk shard's state (every open order and customer) is most of a closer's
        # snapshot: MessagePack after the arrays, not JSON in the sorted header, where it
        # took a quarter of a second per partition and checkpoint after a few days.
        risk = b"" if self.risk is None else codec.encode_risk(self.risk.to_dict())
        if self.risk is not None:
            state["risk_bytes"] = len(risk)
        header = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        return b"".join(
            [
                codec.SNAPSHOT_MAGIC,
                len(header).to_bytes(4, "little"),
                header,
                *(blob for _, blob in blobs),
                panes,
                np.asarray(nums, "<f8").tobytes(),
                np.asarray(dens, "<f8").tobytes(),
                risk,
            ]
        )

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot`; the closer continues exactly where it was taken."""
        state, banks, plain, pane_rows, risk = codec.read_snapshot(data)
        self.watermarks = {k: int(v) for k, v in state["watermarks"].items()}
        self.closed_through = {k: int(v) for k, v in state["closed_through"].items()}
        for rule, series in banks.items():
            bank = self.banks.get(rule)
            if bank is None:
                continue  # the rule was disabled since the snapshot
            # Snapshots from before eviction hold no last-seen times: seen at the last close.
            seen = self.closed_through.get(rule, _NEVER)
            if isinstance(series, bytes | str):
                blob = series if isinstance(series, bytes) else base64.b64decode(series)
                bank.import_all(blob, seen_ms=seen)
            else:
                for sid, encoded in series.items():  # snapshots before the one-blob form
                    bank.import_state(sid, base64.b64decode(encoded))
                bank.touch(bank.rows(series), seen)
            self.admitted[rule] = Counter(
                self._shard(sid) for sid in bank.ids if not _is_overflow(sid)
            )
        self.pending = codec.partials_from_table(state["pending"], plain)
        self.panes = codec.panes_from_rows(pane_rows)
        self.episodes = {
            sid: EpisodeState.from_dict(episode) for sid, episode in state["episodes"].items()
        }
        self.open_alerts = {
            sid: AlertEvent.from_dict(event) for sid, event in state["open_alerts"].items()
        }
        self.streak_start = {k: int(v) for k, v in state["streak_start"].items()}
        for alert_id in state["event_alerts"]:
            self.event_alerts.seen(alert_id)
        self.late_partials = int(state["late_partials"])
        self.population.restore(state, self.rules)
        self.oncall.restore(state.get("oncall"))
        if self.folder is not None:
            self.folder.seed(self.open_alerts.values())
            self.folder.restore(state.get("incidents", []))
        self.muted_series = set(state.get("muted", []))
        for name, rollup in state.get("rollups", {}).items():
            if name in self.rollups:
                self.rollups[name].load(rollup)
        if self.risk is not None and risk is not None:
            self.risk.load(risk)
        self.spreads = log_mean.SpreadMemory(
            {sid: (float(ss), float(df)) for sid, (ss, df) in state.get("spreads", {}).items()},
            {
                sid: {name: (float(w), float(t)) for name, (w, t) in levels.items()}
                for sid, levels in state.get("levels", {}).items()
            },
        )
        # A snapshot from before settling was recorded: its rules settled long ago.
        started = state.get("started_at", {rule.name: _NEVER for rule in self.rules.rules})
        self.started_at = {name: int(ts) for name, ts in started.items()}

    def drain_suppressed(self) -> Counter[tuple[str, str]]:
        """Decisions muted by (mute name, rule) since the last call."""
        suppressed, self.suppressed = self.suppressed, Counter()
        return suppressed

    def drain_set_apart(self) -> Counter[str]:
        """Windows judged without a cell that stood out of them, by rule, since the last
        call."""
        windows, self.set_apart_windows = self.set_apart_windows, Counter()
        return windows

    def drain_twins(self) -> Counter[str]:
        """Episodes deferred to a twin cell, by rule, since the last call."""
        twins, self.twins = self.twins, Counter()
        return twins

    def drain_evictions(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """Evictions by (rule, reason) and folded keys by rule since the last call."""
        evicted, folded = self.evicted, self.folded
        self.evicted, self.folded = Counter(), Counter()
        if self.risk is not None:
            for reason, n in self.risk.scorer.drain_evictions().items():
                evicted[(EVICTION_RULE, reason)] += n
        return evicted, folded

    # -- inputs ------------------------------------------------------------------------------

    def on_partial(self, sealed: SealedPartial) -> None:
        """Keep one source's final partial until its window closes, or its pane until the
        last window holding it closes (first one wins)."""
        rule, start = sealed.rule, sealed.window_start_ms
        if start <= self.closed_through.get(rule, _NEVER):
            # A window partial, or a pane whose windows (the newest starts at it) all closed.
            self.late_partials += 1
            return
        window_ms = self._paned.get(rule)
        store = (
            self.panes
            if window_ms is not None and sealed.window_end_ms - start < window_ms
            else self.pending
        )
        # ``get`` before creating: ``setdefault(k, {})`` built a dict per call, and this
        # runs once per series, source and window.
        by_series = store.get((rule, start))
        if by_series is None:
            by_series = store[(rule, start)] = {}
        series = (sealed.dimension, sealed.key)
        by_source = by_series.get(series)
        if by_source is None:
            by_series[series] = {sealed.source: sealed.partial}
        elif sealed.source not in by_source:
            by_source[sealed.source] = sealed.partial

    def on_watermark(self, source: str, watermark_ms: int) -> list[AlertEvent]:
        """Record a source's watermark and close every window it completes."""
        if watermark_ms > self.watermarks.get(source, _NEVER):
            self.watermarks[source] = watermark_ms
        if self.risk is not None:
            self.risk.on_watermark(source, watermark_ms)
        events: list[AlertEvent] = []
        for rule in self.rules.rules:
            if rule.kind != "event":
                events.extend(self._close_rule(rule))
            elif rule.name in self.rollups:
                events.extend(self._close_rollup(rule))
        return events

    def _close_rollup(self, rule: RuleSpec) -> list[AlertEvent]:
        """Close the rule's SKU windows up to its watermark; keep its open episodes."""
        watermark = self.rule_watermark(rule)
        if watermark is None:
            return []
        events = self.rollups[rule.name].close(watermark)
        for event in events:
            sid = f"{event.kafka_key}|{event.context.get('cause', '')}"
            if event.status == "firing":
                self.open_alerts[sid] = event
            else:
                self.open_alerts.pop(sid, None)
        return events

    def on_event_alert(self, verdict: EventAlert) -> list[AlertEvent]:
        """Turn a per-event verdict into an alert, once per event."""
        series = SeriesRef(verdict.rule, verdict.dimension, verdict.key)
        mute = self.oncall.muted_event(verdict.rule, verdict.dimension, verdict.key, verdict.ts_ms)
        if mute is not None:
            self.suppressed[(mute, verdict.rule)] += 1
            return []
        event = instant_alert(
            series, verdict.decision, verdict.ts_ms, self.texts, context=verdict.context
        )
        if event is None or self.event_alerts.seen(event.alert_id):
            return []
        rollup = self.rollups.get(verdict.rule)
        if rollup is not None:
            rollup.add(verdict)
        return [event]

    # -- closing -----------------------------------------------------------------------------

    def rule_watermark(self, rule: RuleSpec) -> int | None:
        """Minimum watermark over the rule's sources, or ``None`` until all have reported."""
        marks = [self.watermarks.get(source) for source in self._sources[rule.name]]
        if any(mark is None for mark in marks):
            return None
        return min(mark for mark in marks if mark is not None)

    def _close_rule(self, rule: RuleSpec) -> list[AlertEvent]:
        watermark = self.rule_watermark(rule)
        if watermark is None:
            return []
        events: list[AlertEvent] = []
        while True:
            start = self._next_start(rule)
            if start is None or start + rule.window_ms > watermark:
                return events
            # The oldest window with data ends with the hop of the rule's first events.
            self.started_at.setdefault(rule.name, start + rule.window_ms - rule.hop_ms)
            events.extend(self._close_window(rule, start))
            self.closed_through[rule.name] = start
            self.windows_closed += 1

    def _next_start(self, rule: RuleSpec) -> int | None:
        pending = [start for (name, start) in self.pending if name == rule.name]
        closed = self.closed_through.get(rule.name)
        bank = self.banks.get(rule.name)
        carries_series = bank is not None and len(bank) > 0
        if closed is None or not carries_series:
            candidates = [s for s in pending if closed is None or s > closed]
            if rule.name in self._paned:
                # The oldest window a held pane is in that is not closed yet.
                reach = rule.window_ms - rule.hop_ms
                candidates += [
                    pane - reach if closed is None else max(pane - reach, closed + rule.hop_ms)
                    for (name, pane) in self.panes
                    if name == rule.name and (closed is None or pane > closed)
                ]
            return min(candidates, default=None)
        return closed + rule.hop_ms

    def _close_window(self, rule: RuleSpec, start: int) -> list[AlertEvent]:
        end = start + rule.window_ms
        partials = self._window_partials(rule, start)
        if rule.settle_ms and start < self.started_at.get(rule.name, _NEVER) + rule.settle_ms:
            return []  # still settling: the window says nothing (see RuleSpec.settle_ms)
        merged = {series: window_judge.merge(by_source) for series, by_source in partials.items()}
        if rule.definition.entity:
            return self._close_population(rule, start, end, merged)
        bank = self.banks[rule.name]
        shared = rule.definition.shared_denominator
        if shared:
            merged = window_judge.share_denominators(
                rule.name, rule.dimensions, shared, merged, bank.ids
            )
        merged = self._admit(rule, bank, merged)
        if rule.set_apart is not None:
            merged = self._set_apart(rule, merged)
        ids = sorted(set(bank.ids) | {series_id(rule.name, d, k) for d, k in merged})
        if not ids:
            return []
        if shared:
            new_ids = [sid for sid in ids if sid not in bank]
            born = window_judge.born_known(rule.name, rule.dimensions, shared, new_ids, bank)
            for sid, state in born.items():
                bank.import_state(sid, state)
        rows = bank.rows(ids)
        values = np.zeros(len(ids))
        sizes = np.zeros(len(ids))
        noise = np.zeros(len(ids)) if rule.kind == "percentile" else None
        log_means = None
        if rule.kind == "percentile" and rule.statistic == "log_mean":
            parts = [sid.split(":", 2) for sid in ids]
            partials_of = [merged.get((part[1], part[2])) for part in parts]
            log_means = log_mean.window(
                ids,
                [window_judge.sketch_of(partial) for partial in partials_of],
                rule.quantile,
                self.spreads,
                None
                if rule.strata is None
                else [None if partial is None else partial.strata for partial in partials_of],
            )
            values, sizes, noise = log_means.values, log_means.sizes, log_means.noise
        else:
            for i, sid in enumerate(ids):
                _, dimension, key = sid.split(":", 2)
                partial = merged.get((dimension, key))
                if partial is None:
                    continue
                values[i], sizes[i] = window_judge.observation(rule, partial)
                if noise is not None and partial.sketch is not None and sizes[i] > 0:
                    sketch = partial.sketch
                    noise[i] = quantile_noise(
                        rule.quantile, sizes[i], sketch.quantile(0.25), sketch.quantile(0.75)
                    )
        sample = None if rule.kind == "count" else sizes
        series = [
            (sid, dimension, key) for sid in ids for _, dimension, key in (sid.split(":", 2),)
        ]
        detector = rule.detector
        assert detector is not None

        def judge(
            judged: np.ndarray,
            *,
            peek: bool = False,
            z_scale: np.ndarray | None = None,
            learn: np.ndarray | None = None,
            sequential: np.ndarray | None = None,
            learn_offset: np.ndarray | None = None,
            reported: bool = True,
        ) -> Outcome:
            decided = window_judge.evaluate(
                rule,
                bank,
                end,
                ids,
                rows,
                judged,
                sample,
                noise,
                peek=peek,
                z_scale=z_scale,
                learn=learn,
                raw=values if log_means is None else None,
                guard_value=None if log_means is None else log_means.quantiles,
                sequential=sequential,
                learn_offset=learn_offset,
            )
            if log_means is None or not reported:
                return decided
            return log_means.report(decided)  # decided on log-means, reported as the quantile

        def peek() -> Outcome:  # in the scale the engine decides on (log-means unreported)
            return judge(values, peek=True, reported=False)

        window = (series, values, sizes, detector.min_sample_size, peek, detector.z)
        plan = (
            self.oncall.plan(
                rule.name, rule.kind, start, end, *window, shares=rule.relative_to == "total"
            )
            if self.oncall
            else None
        )
        if rule.relative_to == "peers":
            assert rule.kind in ("ratio", "percentile")
            plan = with_standing_peers(
                plan, *window, kind=rule.kind, noise=None if log_means is None else noise
            )
        if plan is None:
            outcome = judge(values)
        else:
            outcome = judge(
                plan.values,
                z_scale=plan.z_scale,
                learn=plan.learn,
                sequential=plan.sequential,
                learn_offset=plan.learn_offset,
            )
        if self.oncall:
            self.oncall.after(rule.name, series, plan, outcome, values)
        if log_means is not None:
            self.spreads.learn(log_means)
        # Seen up to the end of the window's first hop: its newest events lie before that.
        # A faint lag-aware partial (the tail of old deliveries' exposure) is not "seen".
        seen_rows = []
        for i, sid in enumerate(ids):
            _, dimension, key = sid.split(":", 2)
            partial = merged.get((dimension, key))
            if partial is not None and not _faint(rule, partial):
                seen_rows.append(i)
        bank.touch(rows[seen_rows], start + rule.hop_ms)
        events: list[AlertEvent] = []
        for i, sid in enumerate(ids):
            _, dimension, key = sid.split(":", 2)
            decision = outcome.decision(i)
            partial = merged.get((dimension, key))
            twin = partial is not None and is_twin(partial)
            if plan is None:
                events.extend(
                    self._advance(rule, dimension, key, start, end, decision, partial, twin=twin)
                )
                continue
            events.extend(
                self._advance(
                    rule,
                    dimension,
                    key,
                    start,
                    end,
                    plan.decision(i, decision, reported=log_means is not None),
                    partial,
                    muted=plan.muted.get(i),
                    calendar=plan.calendar.get(i),
                    peers=plan.peers.get(i),
                    twin=twin,
                )
            )
        self._evict(rule, bank, end)
        return events

    def _set_apart(
        self, rule: RuleSpec, merged: dict[tuple[str, str], Partial]
    ) -> dict[tuple[str, str], Partial]:
        """The window's partials with the cell that stands out of each series of
        ``set_apart_in`` left out (:mod:`streams.pipeline.set_apart`)."""
        assert rule.detector is not None
        within, z = rule.set_apart_in, rule.detector.z
        out = merged
        for series_key, partial in merged.items():
            if series_key[0] in within and partial.split:
                rest, cell = set_apart(partial, z)
                if cell is not None:
                    if out is merged:
                        out = dict(merged)
                    out[series_key] = rest
                    self.set_apart_windows[rule.name] += 1
        return out

    def _window_partials(self, rule: RuleSpec, start: int) -> BySeries:
        """The window's partials by series and source, taken out of ``pending``; for a
        rule that ships panes, each source's panes of the window united (oldest first),
        and the panes no later window holds (the one starting at ``start``) dropped."""
        whole = self.pending.pop((rule.name, start), {})
        if rule.name not in self._paned:
            return whole
        # An entity rule only reads its partials at a close, so a pane in one window's
        # partial may be shared with the next windows; a series rule's close may change
        # them (shared denominators, overflow), so it gets copies.
        read_only = rule.definition.entity is not None
        last = self.panes.get((rule.name, start), {})  # panes whose last window this is
        # Entity rules hold thousands of keys a window, most in one pane of one source:
        # the loops below are written for that case (they run for every key at every hop).
        parts: dict[tuple[str, str], dict[str, list[Partial]]] = {}
        for pane in range(start, start + rule.window_ms, rule.hop_ms):
            by_series = self.panes.get((rule.name, pane))
            if not by_series:
                continue
            for series, by_source in by_series.items():
                lists = parts.get(series)
                if lists is None:
                    parts[series] = {source: [partial] for source, partial in by_source.items()}
                    continue
                for source, partial in by_source.items():
                    found = lists.get(source)
                    if found is None:
                        lists[source] = [partial]
                    else:
                        found.append(partial)
        for done in [k for k in self.panes if k[0] == rule.name and k[1] <= start]:
            del self.panes[done]
        out: BySeries = {}
        for series in sorted(parts.keys() | whole.keys()) if whole else sorted(parts):
            held = whole.get(series)
            by_source = {} if held is None else dict(held)  # a whole window's partial wins
            lists = parts.get(series)
            if lists is not None:
                owned = last.get(series, {})
                for source, found in lists.items():
                    if source not in by_source:
                        by_source[source] = _unite(found, source in owned, read_only)
            out[series] = by_source
        return out

    # -- bounded state -----------------------------------------------------------------------

    def _shard(self, sid: str) -> int:
        if self.shards == 1:
            return 0
        return closer_partition(sid, self.shards, self._colocated, self._shared)

    def _shard_cap(self, rule: RuleSpec) -> int:
        return math.ceil(rule.max_series / self.shards)

    def _admit(
        self, rule: RuleSpec, bank: SeriesBank, merged: dict[tuple[str, str], Partial]
    ) -> dict[tuple[str, str], Partial]:
        """Admit new keys while their shard is under its cap (in key order); fold the rest
        into their dimension's overflow series."""
        cap = self._shard_cap(rule)
        admitted = self.admitted[rule.name]
        out: dict[tuple[str, str], Partial] = {}
        for (dimension, key), partial in sorted(merged.items()):
            sid = series_id(rule.name, dimension, key)
            if sid not in bank and not _is_overflow(sid):
                if _faint(rule, partial):
                    continue  # no series for less than a delivery's exposure and no return
                shard = self._shard(sid)
                if admitted[shard] >= cap:
                    target = out.setdefault((dimension, overflow_key(shard)), Partial())
                    target.merge(partial)
                    self.folded[rule.name] += 1
                    continue
                admitted[shard] += 1
            existing = out.get((dimension, key))
            if existing is None:
                out[(dimension, key)] = partial
            else:  # an input key spelled like the overflow series: it joins it
                existing.merge(partial)
        return out

    def _evict(self, rule: RuleSpec, bank: SeriesBank, end: int) -> None:
        """Drop series idle for ``idle_ttl`` and, per shard, any beyond the cap; never one
        with an open episode."""
        idle = [sid for sid in bank.idle(end - rule.idle_ttl_ms) if sid not in self.episodes]
        over: list[str] = []
        cap = self._shard_cap(rule)
        admitted = self.admitted[rule.name]
        idle_shards = Counter(self._shard(sid) for sid in idle if not _is_overflow(sid))
        for shard in sorted(admitted):
            excess = admitted[shard] - idle_shards[shard] - cap
            if excess > 0:
                gone = set(idle) | set(self.episodes)
                candidates = [
                    sid
                    for sid in bank.ids
                    if sid not in gone and not _is_overflow(sid) and self._shard(sid) == shard
                ]
                candidates.sort(key=lambda sid: (bank.last_seen(sid), sid))
                over.extend(candidates[:excess])
        for reason, sids in (("ttl", idle), ("cap", over)):
            if not sids:
                continue
            bank.remove(sids)
            for sid in sids:
                self.latest.pop(sid, None)
                self.streak_start.pop(sid, None)
                self.spreads.forget(sid)
                if not _is_overflow(sid):
                    admitted[self._shard(sid)] -= 1
            self.evicted[(rule.name, reason)] += len(sids)
        if len(idle) + len(over) > len(self.latest):
            # A dict keeps its table after deletions: copy it once most entries are gone.
            self.latest = dict(self.latest)
            self.streak_start = dict(self.streak_start)
        if idle or over:
            note_evictions(len(idle) + len(over))

    def _close_population(
        self, rule: RuleSpec, start: int, end: int, merged: Mapping[tuple[str, str], Partial]
    ) -> list[AlertEvent]:
        """Entity rules (bursts, shared addresses, frequent returners): each key against its
        own history if it is busy by nature, else against the population
        (:class:`~thresholds.entity_rate.EntityRates`,
        :class:`~thresholds.return_history.ReturnHistory`; a baseline per customer would
        cost a series per customer ever seen). Only keys with events or an open episode
        are evaluated."""
        open_keys = {
            tuple(sid.split(":", 2)[1:]) for sid in self.episodes if sid.startswith(rule.name + ":")
        }
        verdicts: dict[tuple[str, str], BurstVerdict] = {}
        for dimension in rule.dimension_names:
            also = [key for dim, key in open_keys if dim == dimension]
            judged = self.population.verdicts(rule, dimension, end, merged, also)
            for key, verdict in judged.items():
                verdicts[(dimension, key)] = verdict
        open_keys = {key for key in open_keys if key in verdicts}  # a shard not closed now
        if self.on_closed is None:
            # Most keys are one quiet customer: nothing to decide, record or emit.
            keys = {k for k, verdict in verdicts.items() if verdict.violating} | open_keys
        else:
            keys = set(verdicts)
        events: list[AlertEvent] = []
        mutes = self.oncall.mutes.active(rule.name, start, end)
        for dimension, key in sorted(keys):
            partial = merged.get((dimension, key))
            if partial is not None and rule.definition.entity == "distinct_customers":
                # Its context is the address's customer ids: counted, never shown.
                partial = Partial(partial.num, partial.den)
            sid = series_id(rule.name, dimension, key)
            verdict = verdicts[(dimension, key)]
            decision = verdict_decision(verdict, sid in self.episodes)
            mute = next((m.name for m in mutes if m.matches(dimension, key)), None)
            burst = (
                burst_context(verdict, rule.slow_half_life_ms)
                if rule.definition.entity == "burst"
                else None
            )
            events.extend(
                self._advance(
                    rule, dimension, key, start, end, decision, partial, muted=mute, burst=burst
                )
            )
            if not decision.alerting:
                # One series per customer ever seen would grow without bound: only keys
                # with an open episode stay in the view (and on /metrics).
                self.latest.pop(sid, None)
        return events

    def _advance(
        self,
        rule: RuleSpec,
        dimension: str,
        key: str,
        start: int,
        end: int,
        decision: Decision,
        partial: Partial | None,
        *,
        muted: str | None = None,
        calendar: list[dict[str, Any]] | None = None,
        peers: dict[str, float] | None = None,
        burst: dict[str, Any] | None = None,
        twin: bool = False,
    ) -> list[AlertEvent]:
        """Move the series' episode on by one closed window; return its alert events
        (``calendar``, ``peers`` and ``burst`` go into their context).

        ``twin``: the window's events all lie in one compound cell under the series
        (:func:`~streams.pipeline.aggregate.is_twin`), whose own series judges the same
        events and names both keys: this series opens no episode for it (one open
        before goes on as usual).
        """
        sid = series_id(rule.name, dimension, key)
        if twin and decision.transition == "fire" and sid not in self.episodes:
            self.twins[rule.name] += 1
            decision = replace(decision, transition=None, violating=False, alerting=False)
        if muted is not None:
            # The lifecycle holds still while muted; the first unmuted window catches up.
            if decision.violating or decision.transition is not None:
                self.suppressed[(muted, rule.name)] += 1
            self.muted_series.add(sid)
            decision = replace(
                decision, transition=None, violating=False, alerting=sid in self.episodes
            )
        elif sid in self.muted_series:
            # Catch up after a mute: fire what is still out of band, resolve what is over.
            if decision.transition is not None or not decision.alerting:
                self.muted_series.discard(sid)
                if decision.transition is None and sid in self.episodes:
                    decision = replace(decision, transition="resolve")
            elif decision.violating:
                self.muted_series.discard(sid)
                if sid not in self.episodes:
                    decision = replace(decision, transition="fire")
        if decision.violating and sid not in self.streak_start:
            self.streak_start[sid] = end
        elif not decision.violating and not decision.alerting:
            self.streak_start.pop(sid, None)
        closed = Closed(rule.name, dimension, key, start, end, decision, decision.alerting)
        self.latest[sid] = closed
        if self.on_closed is not None:
            self.on_closed(closed)
        if decision.transition is None and not (decision.violating and sid in self.episodes):
            return []  # only a fire, a resolve or an open episode's escalation emits
        started = self.streak_start.get(sid, end) if decision.transition == "fire" else None
        context = window_judge.context_of(partial) if partial is not None else None
        if calendar:
            context = {**(context or {}), "calendar": calendar}
        if peers:
            context = {**(context or {}), "peers": peers}
        if burst:
            context = {**(context or {}), "burst": burst}
        state, events = advance(
            self.episodes.get(sid),
            SeriesRef(rule.name, dimension, key),
            decision,
            start,
            end,
            self.texts,
            started_at_ms=started,
            context=context,
        )
        if state is None:
            self.episodes.pop(sid, None)
            self.streak_start.pop(sid, None)
        else:
            self.episodes[sid] = state
        for event in events:
            if event.status == "firing":
                self.open_alerts[sid] = event
            else:
                self.open_alerts.pop(sid, None)
        return list(events)


def _unite(panes: list[Partial], last_use: bool, read_only: bool) -> Partial:
    """One source's partial of a window from its panes (oldest first), its context cut
    as the wire cuts a window partial's. ``last_use``: the first pane is in no later
    window, so it may be merged into; ``read_only``: the caller only reads the result, so
    a lone pane is given as it is (shared with the later windows holding it)."""
    if len(panes) == 1:
        return panes[0] if last_use or read_only else panes[0].copy()
    head = panes[0] if last_use else panes[0].copy()
    for pane in panes[1:]:
        head.merge(pane)
    head.bound_context()
    return head


#: Exposure (in deliveries) under which a lag-aware window without returns neither opens
#: a series nor keeps one alive: a key flood's SKU of a single delivery would otherwise be
#: held for its whole cohort (days), and such a window is never judged anyway
#: (``min_sample_size``).
FAINT_EXPOSURE: Final = 1.0


def _faint(rule: RuleSpec, partial: Partial) -> bool:
    """A lag-aware (cohort) partial with no return and under one delivery's exposure."""
    return rule.cohort_ms is not None and partial.num == 0 and partial.den < FAINT_EXPOSURE


def _is_overflow(sid: str) -> bool:
    return sid.split(":", 2)[2].startswith(OVERFLOW_KEY + ".")
