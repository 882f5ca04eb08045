"""Stage 2: merge partials per series and window, close windows, decide, run episodes.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts.episodes import EpisodeState, advance, instant_alert
from alerts.model import AlertEvent, SeriesRef
from alerts.text import AlertTexts
from streams.aggregate import EventAlert, Partial, SealedPartial
from streams.dedup import RecentIds
from streams.events import TopicName
from streams.heap import note_evictions
from streams.rules import RuleSet, RuleSpec
from streams.wire import closer_partition
from thresholds.bank import SeriesBank
from thresholds.decision import Decision
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
    """

    def __init__(self, rules: RuleSet, partitions: Mapping[TopicName, int],
                 texts: AlertTexts, on_closed: Callable[[Closed], None] | None = None,
                 *, shards: int = 1) -> None:
        self.rules = rules
        self.texts = texts.with_runbooks({rule.name: rule.runbook for rule in rules.rules})
        self._sources = {
            rule.name: tuple(f"{topic}/{p}" for topic in rule.topics
                             for p in range(partitions[topic]))
            for rule in rules.rules
        }
        self.banks = {rule.name: SeriesBank(rule.detector) for rule in rules.rules
                      if rule.detector is not None and rule.name != "customer_order_burst"}
        self.watermarks: dict[str, int] = {}
        self.closed_through: dict[str, int] = {}
        self.pending: dict[tuple[str, int], dict[tuple[str, str], dict[str, Partial]]] = {}
        self.episodes: dict[str, EpisodeState] = {}
        #: The firing event of every open episode (re-exported to Prometheus after a restart).
        self.open_alerts: dict[str, AlertEvent] = {}
        self.streak_start: dict[str, int] = {}
        self.latest: dict[str, Closed] = {}
        self.event_alerts = RecentIds(100_000)
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

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything this closer decides from, as bytes (see :meth:`restore`).

        Layout: ``_SNAPSHOT_MAGIC``, a 4-byte little-endian length, a JSON document of the
        small state (``banks`` lists each rule with its blob's length), then the banks'
        :meth:`~thresholds.bank.SeriesBank.export_all` blobs, raw, then the numerators and
        denominators of the plain pending partials (``pending_plain``: no sketch, no
        context) as two float64 arrays. Base64 inside JSON (the older form, still read)
        cost about half the encode time of a large closer; a key flood leaves 100,000s of
        plain partials pending at a window's close, one JSON object each cost most of a
        second on the event loop.
        """
        blobs = [(rule, bank.export_all()) for rule, bank in sorted(self.banks.items())]
        rich: list[list[Any]] = []
        plain: list[list[Any]] = []
        nums: list[float] = []
        dens: list[float] = []
        for (rule, start), by_series in sorted(self.pending.items()):
            for (dimension, key), by_source in sorted(by_series.items()):
                for source, partial in sorted(by_source.items()):
                    if partial.sketch is None and not partial.context:
                        plain.append([rule, start, dimension, key, source])
                        nums.append(partial.num)
                        dens.append(partial.den)
                    else:
                        rich.append([rule, start, dimension, key, source, partial.to_dict()])
        state = {
            "banks": [[rule, len(blob)] for rule, blob in blobs],
            "watermarks": self.watermarks,
            "closed_through": self.closed_through,
            "pending": rich,
            "pending_plain": plain,
            "episodes": {sid: episode.to_dict() for sid, episode in sorted(self.episodes.items())},
            "open_alerts": {sid: event.to_dict() for sid, event in sorted(self.open_alerts.items())},
            "streak_start": self.streak_start,
            "event_alerts": self.event_alerts.items(),
            "late_partials": self.late_partials,
        }
        header = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        return b"".join([_SNAPSHOT_MAGIC, len(header).to_bytes(4, "little"), header,
                         *(blob for _, blob in blobs),
                         np.asarray(nums, "<f8").tobytes(), np.asarray(dens, "<f8").tobytes()])

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot`; the closer continues exactly where it was taken."""
        state, banks, plain = _read_snapshot(data)
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
            self.admitted[rule] = Counter(self._shard(sid) for sid in bank.ids
                                          if not _is_overflow(sid))
        self.pending = {}
        entries = [(rule, start, dimension, key, source, Partial.from_dict(partial))
                   for rule, start, dimension, key, source, partial in state["pending"]]
        entries += plain
        for rule, start, dimension, key, source, partial in sorted(
                entries, key=lambda entry: entry[:5]):
            by_series = self.pending.setdefault((rule, int(start)), {})
            by_series.setdefault((dimension, key), {})[source] = partial
        self.episodes = {sid: EpisodeState.from_dict(episode)
                         for sid, episode in state["episodes"].items()}
        self.open_alerts = {sid: AlertEvent.from_dict(event)
                            for sid, event in state["open_alerts"].items()}
        self.streak_start = {k: int(v) for k, v in state["streak_start"].items()}
        for alert_id in state["event_alerts"]:
            self.event_alerts.seen(alert_id)
        self.late_partials = int(state["late_partials"])

    def drain_evictions(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """Evictions by (rule, reason) and folded keys by rule since the last call."""
        evicted, folded = self.evicted, self.folded
        self.evicted, self.folded = Counter(), Counter()
        return evicted, folded

    # -- inputs ------------------------------------------------------------------------------

    def on_partial(self, sealed: SealedPartial) -> None:
        """Keep one source's final partial until its window closes (first one wins)."""
        if sealed.window_start_ms <= self.closed_through.get(sealed.rule, _NEVER):
            self.late_partials += 1
            return
        by_series = self.pending.setdefault((sealed.rule, sealed.window_start_ms), {})
        by_source = by_series.setdefault((sealed.dimension, sealed.key), {})
        by_source.setdefault(sealed.source, sealed.partial)

    def on_watermark(self, source: str, watermark_ms: int) -> list[AlertEvent]:
        """Record a source's watermark and close every window it completes."""
        if watermark_ms > self.watermarks.get(source, _NEVER):
            self.watermarks[source] = watermark_ms
        events: list[AlertEvent] = []
        for rule in self.rules.rules:
            if rule.kind != "event":
                events.extend(self._close_rule(rule))
        return events

    def on_event_alert(self, verdict: EventAlert) -> list[AlertEvent]:
        """Turn a per-event verdict into an alert, once per event."""
        series = SeriesRef(verdict.rule, verdict.dimension, verdict.key)
        event = instant_alert(series, verdict.decision, verdict.ts_ms, self.texts,
                              context=verdict.context)
        if event is None or self.event_alerts.seen(event.alert_id):
            return []
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
            events.extend(self._close_window(rule, start))
            self.closed_through[rule.name] = start

    def _next_start(self, rule: RuleSpec) -> int | None:
        pending = [start for (name, start) in self.pending if name == rule.name]
        closed = self.closed_through.get(rule.name)
        bank = self.banks.get(rule.name)
        carries_series = bank is not None and len(bank) > 0
        if closed is None or not carries_series:
            candidates = [s for s in pending if closed is None or s > closed]
            return min(candidates, default=None)
        return closed + rule.hop_ms

    def _close_window(self, rule: RuleSpec, start: int) -> list[AlertEvent]:
        end = start + rule.window_ms
        partials = self.pending.pop((rule.name, start), {})
        merged = {series: _merge(by_source.values()) for series, by_source in partials.items()}
        if rule.name == "customer_order_burst":
            return self._close_population(rule, start, end, merged)
        bank = self.banks[rule.name]
        merged = self._admit(rule, bank, merged)
        ids = sorted(set(bank.ids) | {_sid(rule.name, d, k) for d, k in merged})
        if not ids:
            return []
        rows = bank.rows(ids)
        values = np.zeros(len(ids))
        sizes = np.zeros(len(ids))
        noise = np.zeros(len(ids)) if rule.kind == "percentile" else None
        for i, sid in enumerate(ids):
            _, dimension, key = sid.split(":", 2)
            partial = merged.get((dimension, key))
            if partial is None:
                continue
            values[i], sizes[i] = _observation(rule, partial)
            if noise is not None and partial.sketch is not None and sizes[i] > 0:
                sketch = partial.sketch
                noise[i] = quantile_noise(rule.quantile, sizes[i], sketch.quantile(0.25),
                                          sketch.quantile(0.75))
        sample = None if rule.kind == "count" else sizes
        outcome = bank.evaluate(end, rows, values, sample, noise)
        # Seen up to the end of the window's first hop: its newest events lie before that.
        bank.touch(rows[[i for i, sid in enumerate(ids)
                         if tuple(sid.split(":", 2)[1:]) in merged]], start + rule.hop_ms)
        events: list[AlertEvent] = []
        for i, sid in enumerate(ids):
            _, dimension, key = sid.split(":", 2)
            decision = outcome.decision(i)
            partial = merged.get((dimension, key))
            events.extend(self._advance(rule, dimension, key, start, end, decision, partial))
        self._evict(rule, bank, end)
        return events

    # -- bounded state -----------------------------------------------------------------------

    def _shard(self, sid: str) -> int:
        return closer_partition(sid, self.shards) if self.shards > 1 else 0

    def _shard_cap(self, rule: RuleSpec) -> int:
        return math.ceil(rule.max_series / self.shards)

    def _admit(self, rule: RuleSpec, bank: SeriesBank,
               merged: dict[tuple[str, str], Partial]) -> dict[tuple[str, str], Partial]:
        """Admit new keys while their shard is under its cap (in key order); fold the rest
        into their dimension's overflow series."""
        cap = self._shard_cap(rule)
        admitted = self.admitted[rule.name]
        out: dict[tuple[str, str], Partial] = {}
        for (dimension, key), partial in sorted(merged.items()):
            sid = _sid(rule.name, dimension, key)
            if sid not in bank and not _is_overflow(sid):
                shard = self._shard(sid)
                if admitted[shard] >= cap:
                    target = out.setdefault((dimension, overflow_key(shard)), Partial())
                    target.merge(partial)
                    self.folded[rule.name] += 1
                    continue
                admitted[shard] += 1
            target = out.get((dimension, key))
            if target is None:
                out[(dimension, key)] = partial
            else:  # an input key spelled like the overflow series: it joins it
                target.merge(partial)
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
                candidates = [sid for sid in bank.ids if sid not in gone
                              and not _is_overflow(sid) and self._shard(sid) == shard]
                candidates.sort(key=lambda sid: (bank.last_seen(sid), sid))
                over.extend(candidates[:excess])
        for reason, sids in (("ttl", idle), ("cap", over)):
            if not sids:
                continue
            bank.remove(sids)
            for sid in sids:
                self.latest.pop(sid, None)
                self.streak_start.pop(sid, None)
                if not _is_overflow(sid):
                    admitted[self._shard(sid)] -= 1
            self.evicted[(rule.name, reason)] += len(sids)
        if len(idle) + len(over) > len(self.latest):
            # A dict keeps its table after deletions: copy it once most entries are gone.
            self.latest = dict(self.latest)
            self.streak_start = dict(self.streak_start)
        if idle or over:
            note_evictions(len(idle) + len(over))

    def _close_population(self, rule: RuleSpec, start: int, end: int,
                          merged: Mapping[tuple[str, str], Partial]) -> list[AlertEvent]:
        """Bursts: each key against a shared population norm (a baseline per customer
        would cost a series per customer ever seen); only keys with orders or an open
        episode are evaluated."""
        detector = rule.detector
        assert detector is not None
        baseline = detector.prior if detector.prior is not None else 1.0
        upper = detector.guard_above if detector.guard_above is not None else 4.5
        open_keys = {tuple(sid.split(":", 2)[1:]) for sid in self.episodes
                     if sid.startswith(rule.name + ":")}
        if self.on_closed is None:
            # Most keys are one quiet customer: nothing to decide, record or emit.
            keys = {k for k, partial in merged.items() if partial.num > upper} | open_keys
        else:
            keys = set(merged) | open_keys
        events: list[AlertEvent] = []
        for dimension, key in sorted(keys):  # type: ignore[misc]
            partial = merged.get((dimension, key))
            count = partial.num if partial is not None else 0.0
            sid = _sid(rule.name, dimension, key)
            violating = count > upper
            was_open = sid in self.episodes
            transition = "fire" if violating and not was_open else (
                "resolve" if was_open and not violating else None)
            excess = (count - upper) / upper if violating else 0.0
            decision = Decision(
                observed=count, baseline=baseline, lower=None, upper=upper, score=excess,
                anomaly_score=count / (count + upper), sample_size=int(count), ready=True,
                violating=violating, direction="up" if violating else None,
                severity=("critical" if count >= 2 * upper else "warning") if violating else None,
                alerting=violating, transition=transition)  # type: ignore[arg-type]
            events.extend(self._advance(rule, dimension, key, start, end, decision, partial))
            if not decision.alerting:
                # One series per customer ever seen would grow without bound: only keys
                # with an open episode stay in the view (and on /metrics).
                self.latest.pop(sid, None)
        return events

    def _advance(self, rule: RuleSpec, dimension: str, key: str, start: int, end: int,
                 decision: Decision, partial: Partial | None) -> list[AlertEvent]:
        sid = _sid(rule.name, dimension, key)
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
        context = _context(partial) if partial is not None else None
        state, events = advance(self.episodes.get(sid), SeriesRef(rule.name, dimension, key),
                                decision, start, end, self.texts, started_at_ms=started,
                                context=context)
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


_SNAPSHOT_MAGIC = b"closer/2"


_PendingEntry = tuple[str, int, str, str, str, Partial]


def _read_snapshot(data: bytes) -> tuple[dict[str, Any], dict[str, Any], list[_PendingEntry]]:
    """The small state, the banks (rule -> blob, or the base64 / per-series forms of
    JSON-only snapshots) and the plain pending partials of a
    :meth:`WindowCloser.snapshot`."""
    if not data.startswith(_SNAPSHOT_MAGIC):
        state = json.loads(data)
        return state, state["banks"], []
    start = len(_SNAPSHOT_MAGIC)
    size = int.from_bytes(data[start:start + 4], "little")
    offset = start + 4 + size
    state = json.loads(data[start + 4:offset])
    banks: dict[str, Any] = {}
    for rule, length in state["banks"]:
        banks[rule] = data[offset:offset + length]
        offset += length
    ids = state.get("pending_plain", [])
    columns = []
    for _ in ("num", "den"):
        columns.append(np.frombuffer(data, "<f8", len(ids), offset).tolist())
        offset += 8 * len(ids)
    if offset != len(data):
        msg = f"closer snapshot has {len(data) - offset} trailing bytes"
        raise ValueError(msg)
    plain = [(rule, int(start_ms), dimension, key, source, Partial(num, den))
             for (rule, start_ms, dimension, key, source), num, den in zip(ids, *columns)]
    return state, banks, plain


def _sid(rule: str, dimension: str, key: str) -> str:
    return f"{rule}:{dimension}:{key}"


def _is_overflow(sid: str) -> bool:
    return sid.split(":", 2)[2].startswith(OVERFLOW_KEY + ".")


def _merge(partials: Iterable[Partial]) -> Partial:
    merged = Partial()
    for partial in partials:
        merged.merge(partial)
    return merged


def _observation(rule: RuleSpec, partial: Partial) -> tuple[float, float]:
    if rule.kind == "percentile":
        sketch = partial.sketch
        if sketch is None or sketch.count == 0:
            return 0.0, 0.0
        return sketch.quantile(rule.quantile), float(sketch.count)
    if rule.kind == "ratio":
        return partial.num, partial.den
    return partial.num, partial.num


def _context(partial: Partial) -> dict[str, Any] | None:
    """The sub-keys that contribute most to the window's numerator (top 3 per field)."""
    if not partial.context:
        return None
    out: dict[str, Any] = {}
    for name, counts in sorted(partial.context.items()):
        total = sum(counts.values()) or 1.0
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
        out[f"top_{name}"] = [{"key": key, "count": int(count), "share": round(count / total, 3)}
                              for key, count in top]
    return out
