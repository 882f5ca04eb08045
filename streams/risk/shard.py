"""One partition's risk scorer behind the sources' watermarks: a deterministic order.

Facts reach a partials-topic partition from several intake sources, interleaved as
the network pleases. The shard holds them until every order and complaint source's
watermark has passed them, then applies them sorted by ``(event time, event id)``:
the worker and ``replay`` apply the same facts in the same order whatever the
interleaving, so they publish the same records. A fact at or before what was already
released is not applied (counted in ``late``): it is either late past every source's
watermark, or a copy re-sent by an intake that re-read its input after a rebalance or a
restart; a copy of a fact still held is dropped too (``duplicates``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from streams.risk.facts import RiskFact
from streams.risk.record import RiskRecord
from streams.risk.scorer import RiskScorer

__all__ = ["RiskShard", "risk_sources"]


def risk_sources(partitions: dict[str, int] | Any) -> tuple[str, ...]:
    """The sources (``orders/0``...) whose watermarks gate the facts."""
    return tuple(
        f"{topic}/{p}" for topic in ("orders", "complaints") for p in range(int(partitions[topic]))
    )


class RiskShard:
    """Buffer, order and score the facts of one partition.

    Parameters
    ----------
    sources
        Source names whose watermarks must all pass a fact before it is applied.
    scorer
        The scorer (a default :class:`RiskScorer` if not given).
    """

    def __init__(self, sources: Iterable[str], scorer: RiskScorer | None = None) -> None:
        self.sources = tuple(sources)
        self.scorer = scorer if scorer is not None else RiskScorer()
        self.watermarks: dict[str, int] = {}
        self.released_ms = -(1 << 62)
        self._held: list[tuple[int, str, RiskFact]] = []
        self._held_ids: set[str] = set()
        self._out: list[RiskRecord] = []
        self.late = 0
        self.duplicates = 0

    def on_fact(self, fact: RiskFact) -> None:
        """Hold ``fact`` until the watermarks pass it (drop it if they already did)."""
        if fact.ts_ms <= self.released_ms:
            self.late += 1
            return
        if fact.event_id in self._held_ids:
            self.duplicates += 1
            return
        self._held_ids.add(fact.event_id)
        heapq.heappush(self._held, (fact.ts_ms, fact.event_id, fact))

    def on_watermark(self, source: str, watermark_ms: int) -> None:
        """Record a source's watermark; apply every held fact all sources have passed."""
        if source not in self.sources:
            return
        if watermark_ms > self.watermarks.get(source, -(1 << 62)):
            self.watermarks[source] = watermark_ms
        if len(self.watermarks) < len(self.sources):
            return
        through = min(self.watermarks[s] for s in self.sources)
        held = self._held
        while held and held[0][0] <= through:
            fact = heapq.heappop(held)[2]
            self._held_ids.discard(fact.event_id)
            self._apply(fact)
        self.released_ms = max(self.released_ms, through)

    def _apply(self, fact: RiskFact) -> None:
        record = self.scorer.apply(fact)
        if record is not None:
            self._out.append(record)

    def drain(self) -> list[RiskRecord]:
        """Records scored since the last call, in order."""
        out, self._out = self._out, []
        return out

    @property
    def held(self) -> int:
        """Facts held until every watermark passes them."""
        return len(self._held)

    def to_dict(self) -> dict[str, Any]:
        """State for a snapshot (undrained records are not part of it: drain first)."""
        return {
            "scorer": self.scorer.to_dict(),
            "watermarks": self.watermarks,
            "released": self.released_ms,
            "late": self.late,
            "held": [fact.to_list() for _, _, fact in sorted(self._held)],
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore :meth:`to_dict`."""
        self.scorer.load(data["scorer"])
        self.watermarks = {k: int(v) for k, v in data["watermarks"].items()}
        self.released_ms = int(data["released"])
        self.late = int(data["late"])
        self._held = [(f.ts_ms, f.event_id, f) for f in map(RiskFact.from_list, data["held"])]
        heapq.heapify(self._held)
        self._held_ids = {event_id for _, event_id, _ in self._held}
        self._out = []
