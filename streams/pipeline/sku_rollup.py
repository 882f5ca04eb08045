"""Price alerts that reach a person: ``order_outlier`` verdicts rolled up per SKU and cause.

Size: the price roll-up's window close, learning, episode texts and snapshot share one
state per SKU and cause.

Per-order verdicts stay instant alerts on the topic; a person is paged once per
mispriced SKU instead. Verdicts of one SKU are collected per window of
``sku_window`` (event time) and *cause* (the measure, ``unit_price`` or
``quantity``, and its direction). When the window closes (the ``order_outlier``
sources' minimum watermark passes its end, as for any window rule):

* a cause with verdicts and no open episode opens one (``firing``, dimension
  ``sku``, key the SKU), with the affected order ids in ``context.orders``;
* a cause with verdicts of a higher severity than its open episode escalates it;
* an open episode without verdicts for :data:`QUIET_WINDOWS` windows in a row
  resolves.

Every verdict of a window reaches the SKU's closer before the watermark that closes
the window (the verdict precedes that watermark on the partials topic), and
verdicts are ordered by (event time, order id) before use, so Kafka and replay give
the same episodes. The state is small: per open window and SKU cause the verdicts
(at most :data:`MAX_ORDERS` kept, all counted), per open episode its order list.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from alerts.episodes import EpisodeState, advance, alert_id_for
from alerts.model import AlertEvent, SeriesRef
from alerts.text import AlertTexts, Unit, format_value
from streams.pipeline.aggregate import EventAlert
from thresholds.decision import Decision
from thresholds.tails import negative_binomial_tail

__all__ = ["MAX_ORDERS", "QUIET_WINDOWS", "SkuRollup", "decay_over_empty_windows"]

#: Order ids kept per episode (and per window and cause); all are counted.
MAX_ORDERS: Final = 50
#: Windows without a verdict before a SKU episode resolves.
QUIET_WINDOWS: Final = 4
_RANK: Final = {"info": 1, "warning": 2, "critical": 3}
_LABELS: Final[dict[str, tuple[str, Unit]]] = {
    "unit_price": ("Unit price", "amount"),
    "quantity": ("Quantity", "count"),
    "transit": ("Transit time", "hours"),
}
#: Locale text prefix per roll-up key: ``sku.*`` for prices, ``lost.*`` for lost parcels.
_TEXT_PREFIX: Final[dict[str, str]] = {"sku": "sku", "carrier": "lost"}
#: Learned roll-ups (lost parcels per carrier): the usual count per window and its spread
#: are exponentially weighted with this gain (half-life ~55 windows, a week of 3 h), and a
#: window opens an episode only when its count is this improbable under them: Poisson, or
#: negative binomial where the counts spread wider (a carrier whose stragglers come due
#: together each Sunday, one window of five to seven trace requests a week).
RATE_GAIN: Final = 0.0125
RATE_ALPHA: Final = 1e-3
#: Windows a key's usual count needs before it is used (until then: ``min_orders`` only).
RATE_WARM: Final = 8


def decay_over_empty_windows(learned: float, skipped: int) -> float:
    """The factor a usual count keeps over ``skipped`` windows without verdicts, each
    a step ``usual -= max(RATE_GAIN, 1 / learned) * usual`` after ``learned += 1``: the
    running-mean steps telescope (``prod (L - 1) / L = l0 / (l0 + k)``) until the gain
    floor takes over, then ``(1 - RATE_GAIN) ** rest``.

    >>> decay_over_empty_windows(0.0, 3), decay_over_empty_windows(4.0, 4)
    (0.0, 0.5)
    """
    if skipped <= 0:
        return 1.0
    running = min(skipped, max(int(1.0 / RATE_GAIN - learned), 0))
    factor = learned / (learned + running) if running else 1.0
    return factor * (1.0 - RATE_GAIN) ** (skipped - running)


@dataclass(slots=True)
class _Seen:
    """Verdicts of one SKU cause in one window."""

    count: int = 0
    #: ``[ts_ms, order_id, observed, baseline, lower, upper, score, severity]``, bounded.
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Open:
    """One open SKU episode."""

    state: EpisodeState
    orders: list[str]
    count: int
    quiet: int = 0
    last: dict[str, Any] = field(default_factory=dict)


def _cause_id(sku: str, cause: str) -> str:
    return f"{sku}|{cause}"


class SkuRollup:
    """SKU episodes of ``order_outlier`` for the SKUs one closer owns.

    Parameters
    ----------
    rule
        The rule's name (``order_outlier``).
    window_ms
        Length of the roll-up windows (the rule's ``sku_window``).
    texts
        Runbook texts of the rule.
    """

    def __init__(
        self,
        rule: str,
        window_ms: int,
        texts: AlertTexts,
        key_field: str = "sku",
        min_orders: int = 1,
        *,
        learn_rate: bool = False,
    ) -> None:
        self.rule = rule
        #: Judge a window's count against the key's learned usual count (lost parcels: a
        #: carrier that always loses a few a day is no incident); ``False``: any
        #: ``min_orders`` opens (a wrong price has no usual count).
        self.learn_rate = learn_rate
        #: Cause id -> ``[usual count per window, windows learned, start of the last one,
        #: variance of the count per window]``.
        self.rates: dict[str, list[float]] = {}
        #: Start of the first window this roll-up closed: a cause first seen later had no
        #: verdict in any window before (its usual count starts at 0 over them).
        self.first_start: int | None = None
        #: Verdicts one window needs to *open* an episode (an open one takes any): a single
        #: overdue parcel is a trace request, a carrier episode needs a wave of them.
        self.min_orders = min_orders
        #: The verdict context field episodes are kept per: ``sku`` (``order_outlier``)
        #: or ``carrier`` (``lost_parcel``); it is also the episodes' dimension.
        self.key_field = key_field
        self.window_ms = window_ms
        self.texts = texts
        #: Window start -> cause id -> verdicts.
        self.pending: dict[int, dict[str, _Seen]] = {}
        #: Start of the newest closed window (verdicts for it or before are late).
        self.closed_through: int | None = None
        #: Cause id -> open episode.
        self.open: dict[str, _Open] = {}
        #: Verdicts that arrived after their window closed (counted, dropped).
        self.late = 0

    # -- input ---------------------------------------------------------------------------

    def add(self, verdict: EventAlert) -> None:
        """Keep one (new) verdict for its SKU cause's window."""
        sku = verdict.context.get(self.key_field)
        decision = verdict.decision
        if not sku or decision.direction is None:
            return
        start = verdict.ts_ms - verdict.ts_ms % self.window_ms
        if self.closed_through is not None and start <= self.closed_through:
            self.late += 1
            return
        cause = f"{verdict.context.get('measure', 'unit_price')}_{decision.direction}"
        seen = self.pending.setdefault(start, {}).setdefault(_cause_id(sku, cause), _Seen())
        seen.count += 1
        seen.rows.append(
            [
                verdict.ts_ms,
                verdict.key,
                decision.observed,
                decision.baseline,
                decision.lower,
                decision.upper,
                decision.score,
                decision.severity or "warning",
            ]
        )
        if len(seen.rows) > MAX_ORDERS:
            seen.rows.sort(key=lambda row: (row[0], row[1]))
            del seen.rows[MAX_ORDERS:]

    def close(self, watermark_ms: int) -> list[AlertEvent]:
        """Close every window ending at or before ``watermark_ms``; return the events."""
        events: list[AlertEvent] = []
        while True:
            start = self._next_start()
            if start is None or start + self.window_ms > watermark_ms:
                return events
            events.extend(self._close_window(start))
            self.closed_through = start

    def _next_start(self) -> int | None:
        if self.closed_through is not None and self.open:
            return self.closed_through + self.window_ms
        return min(self.pending, default=None)

    # -- closing -------------------------------------------------------------------------

    def _close_window(self, start: int) -> list[AlertEvent]:
        end = start + self.window_ms
        seen = self.pending.pop(start, {})
        events: list[AlertEvent] = []
        for cause_id in sorted(set(seen) | set(self.open)):
            got = seen.get(cause_id)
            if got is not None and (cause_id in self.open or self._unusual(cause_id, got.count)):
                events.extend(self._violating(cause_id, got, start, end))
            elif cause_id in self.open:
                events.extend(self._quiet(cause_id, start, end))
        if self.learn_rate:
            for cause_id in sorted(set(seen) | set(self.rates)):
                if cause_id not in self.open:
                    got = seen.get(cause_id)
                    self._learn(cause_id, 0 if got is None else got.count, start)
        return events

    def _unusual(self, cause_id: str, count: int) -> bool:
        """Whether ``count`` verdicts in one window open an episode for the cause."""
        if count < self.min_orders:
            return False
        rate = self.rates.get(cause_id)
        if self.learn_rate and rate is None and self.first_start is not None:
            rate = [0.0, self._windows_since(self.first_start), 0.0, 0.0]  # none seen so far
        if not self.learn_rate or rate is None or rate[1] < RATE_WARM:
            return True
        return negative_binomial_tail(count, rate[0], rate[3]) < RATE_ALPHA

    def _windows_since(self, start: int) -> float:
        closed = self.closed_through if self.closed_through is not None else start
        return float((closed - start) // self.window_ms + 1)

    def _learn(self, cause_id: str, count: int, start: int) -> None:
        """Fold one closed window's count into the cause's usual count (windows skipped
        since its last one had none)."""
        if self.first_start is None:
            self.first_start = start
        rate = self.rates.get(cause_id)
        usual, learned, last, variance = (
            rate if rate is not None else [0.0, 0.0, float(self.first_start - self.window_ms), 0.0]
        )
        skipped = max(int((start - last) // self.window_ms) - 1, 0)
        # Windows skipped are an open episode's (not learned from: the mean and the spread
        # fade alike over them) or, for a new carrier, those before its first (both 0).
        kept = decay_over_empty_windows(learned, skipped)
        usual *= kept
        variance *= kept
        learned += skipped + 1
        # Exponentially weighted mean and variance (Finch 2009, "Incremental calculation of
        # weighted mean and variance", the exponentially weighted case).
        gain, step = max(RATE_GAIN, 1.0 / learned), count - usual
        usual += gain * step
        variance = (1.0 - gain) * (variance + gain * step * step)
        self.rates[cause_id] = [usual, learned, float(start), variance]

    def _violating(self, cause_id: str, seen: _Seen, start: int, end: int) -> list[AlertEvent]:
        sku, cause = cause_id.rsplit("|", 1)
        rows = sorted(seen.rows, key=lambda row: (row[0], row[1]))
        last = rows[-1]
        severity = max((row[7] for row in rows), key=lambda s: _RANK.get(s, 0))
        if self.learn_rate and _RANK.get(severity, 0) < _RANK["warning"]:
            severity = "warning"  # a wave of trace requests pages
        direction = cause.rsplit("_", 1)[1]
        scores = [row[6] for row in rows]
        score = max(scores, key=abs)
        values = {
            "observed": statistics.median(row[2] for row in rows),
            "baseline": statistics.median(row[3] for row in rows if row[3] is not None),
            "lower": last[4],
            "upper": last[5],
            "score": score,
            "severity": severity,
            "direction": direction,
            "sample_size": seen.count,
        }
        opened = self.open.get(cause_id)
        orders = [row[1] for row in rows]
        if opened is None:
            transition: Any = "fire"
            state = None
            episode_orders, count = orders[:MAX_ORDERS], seen.count
        else:
            transition = None
            state = opened.state
            episode_orders = opened.orders + [o for o in orders if o not in opened.orders]
            episode_orders, count = episode_orders[:MAX_ORDERS], opened.count + seen.count
        decision = _decision(values, transition=transition, violating=True)
        context = self._context(sku, cause, episode_orders, count)
        new_state, events = advance(
            state,
            SeriesRef(self.rule, self.key_field, sku),
            decision,
            start,
            end,
            self.texts,
            unit=_LABELS[_measure(cause)][1],
            context=context,
        )
        if transition == "fire" and new_state is not None:
            alert_id = alert_id_for(SeriesRef(self.rule, self.key_field, cause_id), end)
            new_state = dataclasses.replace(new_state, alert_id=alert_id)
            events = tuple(dataclasses.replace(e, alert_id=alert_id) for e in events)
        assert new_state is not None
        self.open[cause_id] = _Open(new_state, episode_orders, count, 0, values)
        return [self._worded(event, sku, cause, episode_orders, count) for event in events]

    def _quiet(self, cause_id: str, start: int, end: int) -> list[AlertEvent]:
        opened = self.open[cause_id]
        opened.quiet += 1
        if opened.quiet < QUIET_WINDOWS:
            return []
        del self.open[cause_id]
        sku, cause = cause_id.rsplit("|", 1)
        decision = _decision(opened.last, transition="resolve", violating=False)
        context = self._context(sku, cause, opened.orders, opened.count)
        _, events = advance(
            opened.state,
            SeriesRef(self.rule, self.key_field, sku),
            decision,
            start,
            end,
            self.texts,
            unit=_LABELS[_measure(cause)][1],
            context=context,
        )
        return [self._worded(event, sku, cause, opened.orders, opened.count) for event in events]

    def _context(self, sku: str, cause: str, orders: list[str], count: int) -> dict[str, Any]:
        return {self.key_field: sku, "cause": cause, "orders": list(orders), "order_count": count}

    def _worded(
        self, event: AlertEvent, sku: str, cause: str, orders: list[str], count: int
    ) -> AlertEvent:
        """The event with a summary that names the SKU, the price seen and the normal one,
        and the affected orders (texts from the locale's catalogue)."""
        texts, locale = self.texts.catalogue, self.texts.locale
        prefix = _TEXT_PREFIX[self.key_field]
        measure = _measure(cause)
        unit = _LABELS[measure][1]
        shown = ", ".join(orders[:5]) + (
            texts.text("context.more", n=count - 5) if count > 5 else ""
        )
        values = {
            "label": texts.text(f"sku.label.{measure}"),
            "sku": sku,
            "key": sku,
            "label_lower": texts.text(f"sku.label.{measure}").lower(),
            "observed": format_value(event.observed, unit, locale),
            "baseline": format_value(event.baseline, unit, locale),
            "side": texts.text(f"sku.side.{event.direction}"),
            "count": count,
            "noun": texts.text("sku.order_one" if count == 1 else "sku.order_many"),
            "orders": shown,
        }
        summary = texts.text(f"{prefix}.summary", **values)
        runbook = texts.text(f"{prefix}.runbook", **values)
        return dataclasses.replace(event, summary=summary, runbook=runbook)

    # -- snapshots -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "pending": {
                str(start): {cid: [s.count, s.rows] for cid, s in sorted(by.items())}
                for start, by in sorted(self.pending.items())
            },
            "closed_through": self.closed_through,
            "open": {
                cid: {
                    "state": o.state.to_dict(),
                    "orders": o.orders,
                    "count": o.count,
                    "quiet": o.quiet,
                    "last": o.last,
                }
                for cid, o in sorted(self.open.items())
            },
            "late": self.late,
            "rates": {cid: list(rate) for cid, rate in sorted(self.rates.items())},
            "first_start": self.first_start,
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Inverse of :meth:`to_dict`."""
        self.pending = {
            int(start): {cid: _Seen(int(v[0]), list(v[1])) for cid, v in by.items()}
            for start, by in data.get("pending", {}).items()
        }
        closed = data.get("closed_through")
        self.closed_through = None if closed is None else int(closed)
        self.open = {
            cid: _Open(
                EpisodeState.from_dict(o["state"]),
                list(o["orders"]),
                int(o["count"]),
                int(o["quiet"]),
                dict(o["last"]),
            )
            for cid, o in data.get("open", {}).items()
        }
        self.late = int(data.get("late", 0))
        # Snapshots before the spread was learned hold three fields: a Poisson spread.
        self.rates = {
            cid: [*(float(x) for x in rate[:3]), float(rate[3] if len(rate) > 3 else rate[0])]
            for cid, rate in data.get("rates", {}).items()
        }
        first = data.get("first_start")
        self.first_start = None if first is None else int(first)


def _measure(cause: str) -> str:
    return cause.rsplit("_", 1)[0]


def _decision(values: Mapping[str, Any], *, transition: Any, violating: bool) -> Decision:
    score = float(values["score"])
    return Decision(
        observed=float(values["observed"]),
        baseline=float(values["baseline"]),
        lower=values["lower"],
        upper=values["upper"],
        score=score,
        anomaly_score=min(1.0, abs(score) / (abs(score) + 1.0)),
        sample_size=int(values["sample_size"]),
        ready=True,
        violating=violating,
        direction=values["direction"],
        severity=values["severity"] if violating else None,
        alerting=violating,
        transition=transition,
    )
