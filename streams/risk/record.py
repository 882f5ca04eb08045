"""The published risk record (contract 7.4, schema ``aftersales.order-risk/v1``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

import msgspec

__all__ = ["HIGH_AT", "MEDIUM_AT", "RISK_SCHEMA", "Factor", "RiskRecord", "level_of", "rfc3339_ms"]

RISK_SCHEMA: Final = "aftersales.order-risk/v1"
#: Score thresholds of the levels: ``high`` at 0.35 or more, ``medium`` at 0.15 or more.
HIGH_AT: Final = 0.35
MEDIUM_AT: Final = 0.15

Level = Literal["low", "medium", "high"]
Stage = Literal["placed", "shipped", "delivered"]


def level_of(score: float) -> Level:
    """``low`` / ``medium`` / ``high`` by :data:`MEDIUM_AT` and :data:`HIGH_AT`."""
    if score >= HIGH_AT:
        return "high"
    return "medium" if score >= MEDIUM_AT else "low"


class Factor(NamedTuple):
    """One input of the score: its value and its contribution to the log-odds (a
    NamedTuple: 13 are built per scored event)."""

    name: str
    value: float
    contribution: float


class RiskRecord(msgspec.Struct, frozen=True, gc=False):
    """One scored lifecycle event (a frozen msgspec Struct: one is built per scored
    event, at a tenth of a frozen dataclass's cost; its factors are tuples of strings and
    floats, so it stays out of the garbage collector)."""

    order_id: str
    ts_ms: int
    stage: Stage
    score: float
    factors: tuple[Factor, ...]
    customer_id: str | None
    sku: str | None
    category: str | None
    region: str | None
    carrier: str | None

    @property
    def level(self) -> Level:
        """``low``, ``medium`` or ``high`` from the score (see :func:`level_of`)."""
        return level_of(self.score)

    def to_dict(self) -> dict[str, Any]:
        """The record as published (fields in contract order)."""
        return self._fields(
            [
                {"name": name, "value": value, "contribution": contribution}
                for name, value, contribution in self.factors
            ]
        )

    def _fields(self, factors: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "schema": RISK_SCHEMA,
            "order_id": self.order_id,
            "ts": rfc3339_ms(self.ts_ms),
            "stage": self.stage,
            "score": self.score,
            "level": self.level,
            "factors": factors,
            "customer_id": self.customer_id,
            "sku": self.sku,
            "category": self.category,
            "region": self.region,
            "carrier": self.carrier,
        }

    def to_json(self) -> bytes:
        """Compact JSON bytes (the topic's value and a ``--risk-out`` line).

        Written by msgspec (one record per scored event: ``json.dumps`` was most of the
        cost of publishing one), byte for byte what ``json.dumps(..., ensure_ascii=False)``
        writes: the two spell strings and finite floats alike, except floats of magnitude
        from 1e16 or below 1e-4 (``1e+16`` against ``1e16``) and non-finite ones, which
        the scores and factors, rounded to 4 places, never are; a record holding one is
        written by ``json`` all the same.
        """
        score = self.score
        # The test of _msgspec_spells, inlined: this runs for 27 numbers per record.
        spelled = score == 0.0 or 1e-4 <= abs(score) < 1e16
        factors = []
        for name, value, contribution in self.factors:
            factors.append({"name": name, "value": value, "contribution": contribution})
            if spelled and not (
                (value == 0.0 or 1e-4 <= abs(value) < 1e16)
                and (contribution == 0.0 or 1e-4 <= abs(contribution) < 1e16)
            ):
                spelled = False
        data = self._fields(factors)
        if spelled:
            return _encode(data)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


_encode = msgspec.json.Encoder().encode
_DAY_MS: Final = 86_400_000
#: ``YYYY-MM-DD`` of recent epoch days (records of a batch share a few days).
_dates: dict[int, str] = {}


def rfc3339_ms(ts_ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC with milliseconds and ``Z``, as
    ``datetime.isoformat(timespec="milliseconds")`` spells it, at a fifth of its cost
    (the date is computed once per day).

    >>> rfc3339_ms(1_793_614_503_120)
    '2026-11-02T10:15:03.120Z'
    """
    day, of_day = divmod(ts_ms, _DAY_MS)
    date = _dates.get(day)
    if date is None:
        if len(_dates) >= 64:
            _dates.clear()
        date = _dates[day] = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
    seconds, millis = divmod(of_day, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def _msgspec_spells(x: float) -> bool:
    """Whether msgspec writes ``x`` as ``json`` does (``repr``): zero, or a finite
    magnitude in [1e-4, 1e16)."""
    return x == 0.0 or 1e-4 <= abs(x) < 1e16
