"""On-call feedback: verdicts on alerts, and the band multiplier they earn a series.

``aftersales feedback ALERT_ID --false`` writes a :class:`Verdict` to the topic
``<prefix>feedback`` (key: the alert id; the topic is compacted, so it keeps the
latest verdict per alert and is itself the durable state). Every worker reads the
whole topic from the start and keeps a :class:`FeedbackBook`.

Per series the book counts distinct alerts by their latest verdict, ``F`` false and
``T`` true, and sets the band multiplier (applied to ``z`` and the CUSUM threshold
``h`` by :func:`thresholds.engine.step`)::

    net = max(0, F - T)
    multiplier = min(max_multiplier, 1 + step * max(0, net - 1))

One false alarm changes nothing; each further one widens the band by ``step`` up to
``max_multiplier`` (defaults 0.15 and 1.6: ``z`` 3 becomes at most 4.8), and a
``--true`` verdict (on any alert of the series, or the same alert changed) takes one
step back. The result depends only on the set of latest verdicts, so re-reading the
topic (at-least-once, restarts) gives the same multipliers.

Examples
--------
>>> book = FeedbackBook(step=0.15, max_multiplier=1.6)
>>> series = ("return_rate", "sku", "SKU-1")
>>> [book.apply(Verdict(f"a{i}", "false", *series)) for i in range(2)][-1].new
1.15
>>> book.apply(Verdict("a0", "true", *series)).new
1.0
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

__all__ = ["SCHEMA", "Adjustment", "FeedbackBook", "InvalidVerdict", "Verdict"]

SCHEMA: Final = "aftersales.feedback/v1"
VerdictValue = Literal["false", "true"]
#: Verdicts remembered per series (the oldest are forgotten beyond this).
MAX_VERDICTS_PER_SERIES: Final = 100
_MAX_NOTE: Final = 2_000
_MAX_ID: Final = 200


class InvalidVerdict(ValueError):
    """A feedback record that cannot be applied; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Verdict:
    """One on-call verdict on one alert."""

    alert_id: str
    verdict: VerdictValue
    rule: str
    dimension: str
    key: str
    note: str = ""
    ts: str = ""

    @property
    def series(self) -> str:
        """``rule:dimension:key``."""
        return f"{self.rule}:{self.dimension}:{self.key}"

    def to_json(self) -> bytes:
        """The topic's record value."""
        return json.dumps(
            {"schema": SCHEMA, **asdict(self)}, separators=(",", ":"), sort_keys=True
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> Verdict:
        """Decode and validate a record value; :class:`InvalidVerdict` names the field."""
        try:
            data: Any = json.loads(raw) if raw is not None else None
        except (ValueError, RecursionError):
            raise InvalidVerdict("<root>", "not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidVerdict("<root>", "expected a JSON object")
        if data.get("schema") != SCHEMA:
            raise InvalidVerdict("schema", f"expected {SCHEMA!r}")
        for name in ("alert_id", "rule", "dimension", "key"):
            value = data.get(name)
            if not isinstance(value, str) or not value or len(value) > _MAX_ID:
                raise InvalidVerdict(
                    name, f"expected a non-empty string of at most {_MAX_ID} characters"
                )
        if data.get("verdict") not in ("false", "true"):
            raise InvalidVerdict("verdict", "expected 'false' or 'true'")
        for name in ("note", "ts"):
            value = data.get(name, "")
            if not isinstance(value, str) or len(value) > _MAX_NOTE:
                raise InvalidVerdict(name, f"expected a string of at most {_MAX_NOTE} characters")
        return cls(
            data["alert_id"],
            data["verdict"],
            data["rule"],
            data["dimension"],
            data["key"],
            data.get("note", ""),
            data.get("ts", ""),
        )


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A series' multiplier changed."""

    series: str
    old: float
    new: float
    false_verdicts: int
    true_verdicts: int


class FeedbackBook:
    """Latest verdict per alert, per series, and the multiplier they give.

    Parameters
    ----------
    step
        Band widening per net false verdict beyond the first.
    max_multiplier
        The documented limit: no series' multiplier goes above it.
    """

    def __init__(self, step: float = 0.15, max_multiplier: float = 1.6) -> None:
        if not 0 < step <= 1:
            raise ValueError(f"step must be in (0, 1], got {step!r}")
        if not 1 <= max_multiplier <= 3:
            raise ValueError(f"max_multiplier must be in [1, 3], got {max_multiplier!r}")
        self.step = step
        self.max_multiplier = max_multiplier
        self._verdicts: dict[str, OrderedDict[str, VerdictValue]] = {}
        #: Series id -> multiplier, only for series away from 1.
        self.multipliers: dict[str, float] = {}

    def apply(self, verdict: Verdict) -> Adjustment | None:
        """Record a verdict; return the adjustment if the series' multiplier changed."""
        sid = verdict.series
        seen = self._verdicts.setdefault(sid, OrderedDict())
        seen.pop(verdict.alert_id, None)
        seen[verdict.alert_id] = verdict.verdict
        while len(seen) > MAX_VERDICTS_PER_SERIES:
            seen.popitem(last=False)
        falses = sum(1 for v in seen.values() if v == "false")
        trues = len(seen) - falses
        old = self.multipliers.get(sid, 1.0)
        new = self.multiplier_for(falses, trues)
        if new == 1.0:
            self.multipliers.pop(sid, None)
        else:
            self.multipliers[sid] = new
        if new == old:
            return None
        return Adjustment(sid, old, new, falses, trues)

    def multiplier_for(self, falses: int, trues: int) -> float:
        """The multiplier of a series with these verdict counts (module docstring)."""
        net = max(0, falses - trues)
        return round(min(self.max_multiplier, 1.0 + self.step * max(0, net - 1)), 6)
