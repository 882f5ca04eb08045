"""The published risk record (contract 7.4, schema ``aftersales.order-risk/v1``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

import msgspec

__all__ = ["HIGH_AT", "MEDIUM_AT", "RISK_SCHEMA", "Factor", "RiskRecord", "level_of"]

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


@dataclass(frozen=True, slots=True)
class RiskRecord:
    """One scored lifecycle event."""

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
        ts = datetime.fromtimestamp(self.ts_ms / 1000, UTC)
        return {
            "schema": RISK_SCHEMA,
            "order_id": self.order_id,
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "stage": self.stage,
            "score": self.score,
            "level": self.level,
            "factors": [
                {"name": f.name, "value": f.value, "contribution": f.contribution}
                for f in self.factors
            ],
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
        data = self.to_dict()
        numbers = [self.score, *(x for f in self.factors for x in (f.value, f.contribution))]
        if all(_msgspec_spells(x) for x in numbers):
            return _encode(data)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


_encode = msgspec.json.Encoder().encode


def _msgspec_spells(x: float) -> bool:
    """Whether msgspec writes ``x`` as ``json`` does (``repr``): zero, or a finite
    magnitude in [1e-4, 1e16)."""
    return x == 0.0 or 1e-4 <= abs(x) < 1e16
