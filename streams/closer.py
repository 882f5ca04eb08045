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
"""

from __future__ import annotations

import base64
import json
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
from streams.rules import RuleSet, RuleSpec
from thresholds.bank import SeriesBank
from thresholds.decision import Decision
from thresholds.kinds import quantile_noise

__all__ = ["Closed", "WindowCloser"]

_NEVER = -(1 << 62)


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
    """

    def __init__(self, rules: RuleSet, partitions: Mapping[TopicName, int],
                 texts: AlertTexts, on_closed: Callable[[Closed], None] | None = None) -> None:
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

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything this closer decides from, as bytes (see :meth:`restore`)."""
        state = {
            "banks": {rule: base64.b64encode(bank.export_all()).decode()
                      for rule, bank in sorted(self.banks.items())},
            "watermarks": self.watermarks,
            "closed_through": self.closed_through,
            "pending": [[rule, start, dimension, key, source, partial.to_dict()]
                        for (rule, start), by_series in sorted(self.pending.items())
                        for (dimension, key), by_source in sorted(by_series.items())
                        for source, partial in sorted(by_source.items())],
            "episodes": {sid: episode.to_dict() for sid, episode in sorted(self.episodes.items())},
            "open_alerts": {sid: event.to_dict() for sid, event in sorted(self.open_alerts.items())},
            "streak_start": self.streak_start,
            "event_alerts": self.event_alerts.items(),
            "late_partials": self.late_partials,
        }
        return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot`; the closer continues exactly where it was taken."""
        state = json.loads(data)
        for rule, series in state["banks"].items():
            bank = self.banks.get(rule)
            if bank is None:
                continue  # the rule was disabled since the snapshot
            if isinstance(series, str):
                bank.import_all(base64.b64decode(series))
                continue
            for sid, encoded in series.items():  # snapshots before the one-blob form
                bank.import_state(sid, base64.b64decode(encoded))
        self.watermarks = {k: int(v) for k, v in state["watermarks"].items()}
        self.closed_through = {k: int(v) for k, v in state["closed_through"].items()}
        self.pending = {}
        for rule, start, dimension, key, source, partial in state["pending"]:
            by_series = self.pending.setdefault((rule, int(start)), {})
            by_series.setdefault((dimension, key), {})[source] = Partial.from_dict(partial)
        self.episodes = {sid: EpisodeState.from_dict(episode)
                         for sid, episode in state["episodes"].items()}
        self.open_alerts = {sid: AlertEvent.from_dict(event)
                            for sid, event in state["open_alerts"].items()}
        self.streak_start = {k: int(v) for k, v in state["streak_start"].items()}
        for alert_id in state["event_alerts"]:
            self.event_alerts.seen(alert_id)
        self.late_partials = int(state["late_partials"])

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
        events: list[AlertEvent] = []
        for i, sid in enumerate(ids):
            _, dimension, key = sid.split(":", 2)
            decision = outcome.decision(i)
            partial = merged.get((dimension, key))
            events.extend(self._advance(rule, dimension, key, start, end, decision, partial))
        return events

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


def _sid(rule: str, dimension: str, key: str) -> str:
    return f"{rule}:{dimension}:{key}"


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
