"""The alert lifecycle: a pure step from engine decisions to alert events.

The threshold engine already decides *when* an episode starts and ends
(``Decision.transition``); this module gives each episode one stable
``alert_id`` and turns the two transitions into a ``firing`` and a ``resolved``
event. The only state is :class:`EpisodeState`, present while an episode is
open, small enough for a Faust table and exactly round-tripped through bytes.

Rules:

* ``"fire"`` with no open episode opens one and emits ``firing``.
* ``"fire"`` while the *same* episode (same ``started_at``) is open, or an
  older one, emits nothing: at-least-once input replays the same windows.
* ``"fire"`` while an *older* episode is open (its resolve was lost) emits a
  ``resolved`` for the old one, then a ``firing`` for the new one.
* A window that violates on the open episode's side with a *higher* severity than
  the episode's (info < warning < critical) emits ``firing`` again with the same
  ``alert_id`` and ``started_at`` and the new severity (escalation); severity never
  falls during an episode.
* ``"resolve"`` emits ``resolved`` with the open episode's ``alert_id``,
  ``started_at``, ``severity`` and ``direction`` (so metrics keyed by severity
  balance), then clears the state; without an open episode it emits nothing.
* Any other decision leaves the state alone and emits nothing.

Replaying a whole fire/resolve pair after it completed re-emits it with the same
``alert_id``; consumers deduplicate on ``(alert_id, status, severity)``.

Per-event rules (``order_outlier``) have no episodes: :func:`instant_alert`
emits one ``firing`` event and never a ``resolved`` one, with
``window_start == window_end == started_at`` = the event's time.

Examples
--------
>>> from thresholds.decision import Decision
>>> series = SeriesRef("return_rate", "sku", "SKU-00042")
>>> fire = Decision(
...     0.31, 0.098, 0.041, 0.156, 3.4, 0.97, 212, True, True, "up", "critical", True, "fire"
... )
>>> state, events = advance(None, series, fire, 1793610900000, 1793614500000, AlertTexts())
>>> [(e.status, e.alert_id) for e in events]
[('firing', '93544e9743f84af0')]
>>> advance(state, series, fire, 1793610900000, 1793614500000, AlertTexts())[1]
()
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, get_args

from alerts.exceptions import AlertValidationError, DecisionError
from alerts.model import SCHEMA, AlertEvent, AlertStatus, SeriesRef, ms_to_datetime
from alerts.text import AlertTexts, Unit
from thresholds.decision import Decision, Direction, Severity

__all__ = [
    "EpisodeState",
    "Step",
    "advance",
    "alert_id_for",
    "instant_alert",
]

_DEFAULT_SEVERITY: Final[Severity] = "warning"
#: Order of severities, for escalation.
_RANK: Final[dict[Severity, int]] = {"info": 1, "warning": 2, "critical": 3}


def alert_id_for(series: SeriesRef, started_at_ms: int) -> str:
    """First 16 hex chars of sha256 over ``rule|dimension|key|started_at_ms``."""
    raw = f"{series.rule}|{series.dimension}|{series.key}|{started_at_ms}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EpisodeState:
    """The open episode of one series."""

    alert_id: str
    started_at_ms: int
    severity: Severity
    direction: Direction

    def __post_init__(self) -> None:
        if not isinstance(self.alert_id, str) or not self.alert_id:
            raise AlertValidationError("alert_id", "must be a non-empty string")
        ms = self.started_at_ms
        if isinstance(ms, bool) or not isinstance(ms, int):
            raise AlertValidationError("started_at_ms", f"must be an int, got {ms!r}")
        if self.severity not in get_args(Severity):
            raise AlertValidationError("severity", f"unknown severity {self.severity!r}")
        if self.direction not in get_args(Direction):
            raise AlertValidationError("direction", f"unknown direction {self.direction!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeState:
        """Validate and build from :meth:`to_dict` output."""
        try:
            return cls(
                alert_id=data["alert_id"],
                started_at_ms=data["started_at_ms"],
                severity=data["severity"],
                direction=data["direction"],
            )
        except KeyError as exc:
            raise AlertValidationError(str(exc.args[0]), "is required") from exc

    def to_bytes(self) -> bytes:
        """Compact, sorted-key JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> EpisodeState:
        """Inverse of :meth:`to_bytes`."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise AlertValidationError("<root>", f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AlertValidationError("<root>", "must be a JSON object")
        return cls.from_dict(data)


Step = tuple[EpisodeState | None, tuple[AlertEvent, ...]]
"""New state and the events to emit, in order (usually zero or one)."""


def _event(
    status: AlertStatus,
    *,
    alert_id: str,
    series: SeriesRef,
    decision: Decision,
    severity: Severity,
    direction: Direction,
    baseline: float,
    window_start_ms: int,
    window_end_ms: int,
    started_at_ms: int,
    texts: AlertTexts,
    unit: Unit | None,
    context: Mapping[str, Any] | None,
) -> AlertEvent:
    return AlertEvent(
        schema=SCHEMA,
        alert_id=alert_id,
        status=status,
        rule=series.rule,
        dimension=series.dimension,
        key=series.key,
        severity=severity,
        direction=direction,
        observed=decision.observed,
        baseline=baseline,
        lower=decision.lower,
        upper=decision.upper,
        score=decision.score,
        sample_size=decision.sample_size,
        window_start=ms_to_datetime(window_start_ms),
        window_end=ms_to_datetime(window_end_ms),
        started_at=ms_to_datetime(started_at_ms),
        summary=texts.summary(series, decision, unit=unit, context=context),
        runbook=texts.runbook(series, decision, direction=direction, unit=unit, context=context),
        context=context or {},
    )


def _fire_fields(series: SeriesRef, decision: Decision) -> tuple[Severity, Direction, float]:
    if decision.baseline is None:
        raise DecisionError(f"{series.kafka_key}: cannot fire without a baseline")
    direction: Direction = decision.direction or ("up" if decision.score >= 0 else "down")
    return decision.severity or _DEFAULT_SEVERITY, direction, decision.baseline


def advance(
    state: EpisodeState | None,
    series: SeriesRef,
    decision: Decision,
    window_start_ms: int,
    window_end_ms: int,
    texts: AlertTexts,
    *,
    started_at_ms: int | None = None,
    unit: Unit | None = None,
    context: Mapping[str, Any] | None = None,
) -> Step:
    """Apply one window's decision to a series' episode state.

    ``started_at_ms`` is the ``window_end`` of the episode's first violating
    window (contract section 3); it defaults to this window's end, which is
    right when the engine fires on the first violation. ``unit`` overrides the
    rule's unit in texts; ``context`` is copied into the event.
    A ``"fire"`` without a baseline raises :class:`DecisionError` (an engine bug);
    a ``"resolve"`` without one reports the observed value as baseline.
    """

    def make(
        status: AlertStatus,
        alert_id: str,
        severity: Severity,
        direction: Direction,
        baseline: float,
        started: int,
    ) -> AlertEvent:
        return _event(
            status,
            alert_id=alert_id,
            series=series,
            decision=decision,
            severity=severity,
            direction=direction,
            baseline=baseline,
            window_start_ms=window_start_ms,
            window_end_ms=window_end_ms,
            started_at_ms=started,
            texts=texts,
            unit=unit,
            context=context,
        )

    if decision.transition == "resolve":
        if state is None:
            return None, ()
        baseline = decision.observed if decision.baseline is None else decision.baseline
        return None, (make("resolved", *_closing(state), baseline, state.started_at_ms),)
    if decision.transition != "fire":
        if (
            state is not None
            and decision.violating
            and decision.direction == state.direction
            and decision.severity is not None
            and _RANK[decision.severity] > _RANK[state.severity]
        ):
            escalated = EpisodeState(
                state.alert_id, state.started_at_ms, decision.severity, state.direction
            )
            baseline = decision.observed if decision.baseline is None else decision.baseline
            return escalated, (
                make(
                    "firing",
                    state.alert_id,
                    decision.severity,
                    state.direction,
                    baseline,
                    state.started_at_ms,
                ),
            )
        return state, ()

    start = window_end_ms if started_at_ms is None else started_at_ms
    if state is not None and start <= state.started_at_ms:
        return state, ()
    severity, direction, baseline = _fire_fields(series, decision)
    events: list[AlertEvent] = []
    if state is not None:
        events.append(make("resolved", *_closing(state), baseline, state.started_at_ms))
    new_state = EpisodeState(alert_id_for(series, start), start, severity, direction)
    events.append(make("firing", new_state.alert_id, severity, direction, baseline, start))
    return new_state, tuple(events)


def _closing(state: EpisodeState) -> tuple[str, Severity, Direction]:
    return state.alert_id, state.severity, state.direction


def instant_alert(
    series: SeriesRef,
    decision: Decision,
    event_ts_ms: int,
    texts: AlertTexts,
    *,
    unit: Unit | None = None,
    context: Mapping[str, Any] | None = None,
) -> AlertEvent | None:
    """A per-event rule's alert: one ``firing`` event, never resolved.

    Emitted when the decision is ``violating`` or says ``"fire"`` (persistence
    does not apply to single events); ``window_start``, ``window_end`` and ``started_at`` are all
    the event's time, and ``alert_id`` hashes that time. Returns ``None`` for
    a non-violating decision.
    """
    if not (decision.violating or decision.transition == "fire"):
        return None
    severity, direction, baseline = _fire_fields(series, decision)
    return _event(
        "firing",
        alert_id=alert_id_for(series, event_ts_ms),
        series=series,
        decision=decision,
        severity=severity,
        direction=direction,
        baseline=baseline,
        window_start_ms=event_ts_ms,
        window_end_ms=event_ts_ms,
        started_at_ms=event_ts_ms,
        texts=texts,
        unit=unit,
        context=context,
    )
