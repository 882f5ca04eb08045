"""Incident folding: many alerts of one rule under one parent become one incident.

Size: folding alerts into incidents, with the folder's snapshot and its resolution by
watermark; they share the incident records.

After each window close of a rule, the closer hands :func:`fold` the rule's open
episodes. A child is an open episode whose firing event's context shows a dominant
*parent*: the top entry of ``top_<field>`` (``field`` in carrier, category, region)
holds at least ``MIN_SHARE`` of the window's numerator, or both ``top_region`` and
``top_carrier`` do (parent ``region,carrier``, preferred as the more specific). When
at least ``MIN_CHILDREN`` children share a parent, an incident opens on it:

* one alert event with ``dimension = "incident"`` and ``key = "<parent dim>=<parent
  key>"`` (its own ``alert_id``, firing then resolved when its last child resolves),
  ``observed`` = the children's total excess (events above their baselines, e.g. extra
  returns), ``baseline`` 0, ``sample_size`` = the number of children, the children's
  highest severity and score, and ``context.incident``::

      {"id", "role": "parent", "parent": {"dimension", "key"}, "excess",
       "parent_share",            # the children's share of the excess of every
                                  # alerting series of their dimension
       "children": [{"dimension", "key", "alert_id", "excess", "share"}, ...]}

* the children's own alert events stay as they are (on the topic, byte for byte what
  they would be without folding); ``aftersales_alert_info`` labels the incident and its
  children with ``group = <incident id>`` (other alerts: their dimension), and
  Alertmanager groups on it: one notification for the incident.

:class:`IncidentFolder` drives this from the alert events alone, one window end at a
time once every window of the rule up to it is closed, so ``replay`` and a worker that
owns every partition fold alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from alerts.model import (
    SCHEMA,
    AlertEvent,
    AlertStatus,
    datetime_to_ms,
    join_key,
    ms_to_datetime,
)
from thresholds.decision import Direction, Severity

__all__ = ["MIN_CHILDREN", "MIN_SHARE", "Child", "Incident", "IncidentFolder", "fold", "parents_of"]

MIN_CHILDREN: Final = 3
MIN_SHARE: Final = 0.6
PARENT_FIELDS: Final = ("carrier", "category", "region")
_RANK: Final = {"info": 1, "warning": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Child:
    """An open episode that may fold: its firing event and its window's excess."""

    event: AlertEvent
    excess: float


@dataclass(slots=True)
class Incident:
    """An open incident on one parent."""

    incident_id: str
    rule: str
    parent_dimension: str
    parent_key: str
    started_at_ms: int
    severity: Severity
    children: dict[str, str] = field(default_factory=dict)  # series id -> alert id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (closer snapshots)."""
        return {
            "id": self.incident_id,
            "rule": self.rule,
            "dimension": self.parent_dimension,
            "key": self.parent_key,
            "started_at_ms": self.started_at_ms,
            "severity": self.severity,
            "children": dict(sorted(self.children.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["id"],
            data["rule"],
            data["dimension"],
            data["key"],
            int(data["started_at_ms"]),
            data["severity"],
            dict(data["children"]),
        )

    @property
    def key(self) -> str:
        """The incident event's key, ``<parent dim>=<parent key>``."""
        return f"{self.parent_dimension}={self.parent_key}"

    def tag(self) -> dict[str, Any]:
        """``context.incident`` of a child."""
        return {
            "id": self.incident_id,
            "role": "child",
            "parent": {"dimension": self.parent_dimension, "key": self.parent_key},
        }


def parents_of(event: AlertEvent) -> list[tuple[str, str]]:
    """Dominant parents of an alert, most specific first (module docstring)."""
    dominant: dict[str, str] = {}
    for name in PARENT_FIELDS:
        top = event.context.get(f"top_{name}")
        if (
            isinstance(top, list)
            and top
            and isinstance(top[0], Mapping)
            and float(top[0].get("share", 0)) >= MIN_SHARE
        ):
            dominant[name] = str(top[0]["key"])
    own = set(event.dimension.split(","))
    out = []
    if "region" in dominant and "carrier" in dominant and not own & {"region", "carrier"}:
        out.append(("region,carrier", join_key([dominant["region"], dominant["carrier"]])))
    out += [(name, value) for name, value in dominant.items() if name not in own]
    return out


def _incident_id(rule: str, key: str, started_ms: int) -> str:
    raw = f"{rule}|incident|{key}|{started_ms}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def fold(
    rule: str,
    children: Mapping[str, Child],
    incidents: dict[str, Incident],
    window_start_ms: int,
    window_end_ms: int,
    excess_by_dimension: Mapping[str, float],
) -> tuple[list[AlertEvent], dict[str, Incident]]:
    """Update ``incidents`` (parent key -> incident, this rule's only) from the rule's open
    episodes; return the incident events to emit and the incident of each child.

    ``children`` maps series id to its open episode; ``excess_by_dimension`` is the total
    positive excess of each child dimension this window (for ``parent_share``).
    """
    by_parent: dict[tuple[str, str, str], list[str]] = {}
    options: dict[str, list[tuple[str, str, str]]] = {}
    for sid, child in sorted(children.items()):
        keys = [(child.event.dimension, dim, key) for dim, key in parents_of(child.event)]
        options[sid] = keys
        for k in keys:
            by_parent.setdefault(k, []).append(sid)
    assigned: dict[str, tuple[str, str, str]] = {}
    for sid, keys in options.items():
        for k in keys:
            if len(by_parent[k]) >= MIN_CHILDREN:
                assigned[sid] = k
                break
    groups: dict[tuple[str, str, str], list[str]] = {}
    for sid, k in assigned.items():
        groups.setdefault(k, []).append(sid)
    events: list[AlertEvent] = []
    membership: dict[str, Incident] = {}
    for (child_dim, pdim, pkey), sids in sorted(groups.items()):
        if len(sids) < MIN_CHILDREN and f"{pdim}={pkey}" not in incidents:
            continue
        key = f"{pdim}={pkey}"
        incident = incidents.get(key)
        members = [children[sid] for sid in sids]
        severity = max((c.event.severity for c in members), key=lambda s: _RANK[s])
        opened = incident is None
        if incident is None:
            incident = Incident(
                _incident_id(rule, key, window_end_ms), rule, pdim, pkey, window_end_ms, severity
            )
            incidents[key] = incident
        escalated = _RANK[severity] > _RANK[incident.severity]
        incident.severity = max(incident.severity, severity, key=lambda s: _RANK[s])
        new_children = {sid: children[sid].event.alert_id for sid in sids}
        grew = set(new_children) - set(incident.children)
        incident.children.update(new_children)
        for sid in sids:
            membership[sid] = incident
        if opened or escalated or grew:
            events.append(
                _event(
                    "firing",
                    incident,
                    members,
                    window_start_ms,
                    window_end_ms,
                    excess_by_dimension.get(child_dim, 0.0),
                )
            )
    for key, incident in list(incidents.items()):
        incident.children = {sid: aid for sid, aid in incident.children.items() if sid in children}
        if not incident.children:
            del incidents[key]
            events.append(_event("resolved", incident, [], window_start_ms, window_end_ms, 0.0))
    return events, membership


def _event(
    status: AlertStatus,
    incident: Incident,
    members: list[Child],
    start_ms: int,
    end_ms: int,
    dimension_excess: float,
) -> AlertEvent:
    total = sum(max(c.excess, 0.0) for c in members)

    def share_of(child: Child) -> float:
        return round(max(child.excess, 0.0) / total, 3) if total else 0.0

    children = [
        {
            "dimension": c.event.dimension,
            "key": c.event.key,
            "alert_id": c.event.alert_id,
            "excess": round(c.excess, 3),
            "share": share_of(c),
        }
        for c in sorted(members, key=lambda c: (-share_of(c), c.event.key))
    ]
    share = min(total / dimension_excess, 1.0) if dimension_excess > 0 else 0.0
    direction: Direction = "up"
    if members and sum(1 for c in members if c.event.direction == "down") * 2 > len(members):
        direction = "down"
    what = f"{incident.parent_dimension} {incident.parent_key}"
    if status == "firing":
        summary = (
            f"{incident.rule}: {len(members)} series out of band under {what}; "
            f"together {share:.0%} of the excess of their dimension"
        )
    else:
        summary = f"{incident.rule}: the incident under {what} is over"
    context: dict[str, Any] = {
        "incident": {
            "id": incident.incident_id,
            "role": "parent",
            "parent": {"dimension": incident.parent_dimension, "key": incident.parent_key},
            "excess": round(total, 3),
            "parent_share": round(share, 3),
            "children": children,
        }
    }
    return AlertEvent(
        schema=SCHEMA,
        alert_id=incident.incident_id,
        status=status,
        rule=incident.rule,
        dimension="incident",
        key=incident.key,
        severity=incident.severity,
        direction=direction,
        observed=total,
        baseline=0.0,
        lower=None,
        upper=None,
        score=max((c.event.score for c in members), default=0.0),
        sample_size=len(members),
        window_start=ms_to_datetime(start_ms),
        window_end=ms_to_datetime(end_ms),
        started_at=ms_to_datetime(incident.started_at_ms),
        summary=summary,
        runbook=(
            f"One cause is likely: check {what} first (its carrier, supplier or "
            "listing); the series it explains are in context.incident.children."
        ),
        context=context,
    )


_STATUS_ORDER: Final = {"resolved": 0, "firing": 1}


class IncidentFolder:
    """Folds a stream of alert events into incidents (see the module docstring).

    Feed every alert with :meth:`add`; call :meth:`advance` with a rule's closed-through
    time (every window of the rule ending at or before it has been decided) to get the
    incident events up to it.
    """

    def __init__(self, ratio_rules: Iterable[str] = ()) -> None:
        #: Rules whose observed value is a share (their excess is weighted by the sample).
        self.ratio_rules = frozenset(ratio_rules)
        #: Open episodes: series id -> latest firing event.
        self.open: dict[str, AlertEvent] = {}
        self.incidents: dict[str, dict[str, Incident]] = {}
        self._pending: dict[str, list[AlertEvent]] = {}

    def add(self, events: Iterable[AlertEvent]) -> None:
        """Queue alert events (incident events and instant alerts are ignored)."""
        for event in events:
            if event.dimension == "incident" or event.is_instant:
                continue
            self._pending.setdefault(event.rule, []).append(event)

    def seed(self, events: Iterable[AlertEvent]) -> None:
        """Mark the open episodes restored after a restart as open."""
        for event in events:
            if event.status == "firing" and not event.is_instant:
                self.open[event.kafka_key] = event

    def snapshot(self, series: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The open incidents, JSON-ready, for a closer's snapshot: with ``series`` (the
        closer's open episodes, ``rule:dimension:key``) only the children among them, and
        only incidents that keep one. Each closer persists the incidents of its own
        children, as it persists their episodes; :meth:`restore` joins them again."""
        keep = None if series is None else set(series)
        out = []
        for _, by_key in sorted(self.incidents.items()):
            for _, incident in sorted(by_key.items()):
                data = incident.to_dict()
                if keep is not None:
                    data["children"] = {
                        sid: aid for sid, aid in data["children"].items() if sid in keep
                    }
                    if not data["children"]:
                        continue
                out.append(data)
        return out

    def restore(self, incidents: Iterable[Mapping[str, Any]]) -> None:
        """Load :meth:`snapshot` output (of one closer or several, in any order): parts of
        one incident are joined, so it keeps its id and its children after a restart and
        a new child joins it instead of opening another incident."""
        for data in incidents:
            part = Incident.from_dict(data)
            by_key = self.incidents.setdefault(part.rule, {})
            known = by_key.get(part.key)
            if known is None:
                by_key[part.key] = part
                continue
            if (part.started_at_ms, part.incident_id) < (known.started_at_ms, known.incident_id):
                known.incident_id, known.started_at_ms = part.incident_id, part.started_at_ms
            known.severity = max(known.severity, part.severity, key=lambda s: _RANK[s])
            known.children.update(part.children)

    def advance(self, rule: str, closed_through_ms: int) -> list[AlertEvent]:
        """Incident events of ``rule`` for every window end up to ``closed_through_ms``."""
        pending = self._pending.get(rule)
        if not pending:
            return []
        ready = [e for e in pending if _ms(e.window_end) <= closed_through_ms]
        if not ready:
            return []
        self._pending[rule] = [e for e in pending if _ms(e.window_end) > closed_through_ms]
        ready.sort(
            key=lambda e: (
                _ms(e.window_end),
                e.kafka_key,
                _STATUS_ORDER[e.status],
                _RANK[e.severity],
            )
        )
        out: list[AlertEvent] = []
        incidents = self.incidents.setdefault(rule, {})
        index = 0
        while index < len(ready):
            end = _ms(ready[index].window_end)
            start = _ms(ready[index].window_start)
            while index < len(ready) and _ms(ready[index].window_end) == end:
                event = ready[index]
                if event.status == "firing":
                    self.open[event.kafka_key] = event
                else:
                    self.open.pop(event.kafka_key, None)
                index += 1
            ratio = rule in self.ratio_rules
            children = {
                sid: Child(event, _excess(event, ratio))
                for sid, event in self.open.items()
                if event.rule == rule
            }
            by_dimension: dict[str, float] = {}
            for child in children.values():
                by_dimension[child.event.dimension] = by_dimension.get(
                    child.event.dimension, 0.0
                ) + max(child.excess, 0.0)
            events, _ = fold(rule, children, incidents, start, end, by_dimension)
            out.extend(events)
        return out

    def groups(self) -> dict[str, str]:
        """Alert id -> incident id for every open incident's children (metrics labels)."""
        return {
            alert_id: incident.incident_id
            for by_key in self.incidents.values()
            for incident in by_key.values()
            for alert_id in incident.children.values()
        }


def _excess(event: AlertEvent, ratio: bool) -> float:
    """Events above the baseline: (rate - baseline) x sample for shares; else the
    difference itself."""
    diff = event.observed - event.baseline
    if ratio and event.sample_size is not None:
        return diff * event.sample_size
    return diff


def _ms(value: Any) -> int:
    return datetime_to_ms(value)
