"""Records on the internal partials topic: sealed partials, per-event verdicts, watermarks.

JSON, one object per record, tagged by ``t``:

* ``P`` packs the sealed partials of one source, rule and window that go to one
  closer partition: ``{"t": "P", "src", "r", "ws", "we", "i": [[dimension, key,
  num, den] or [dimension, key, num, den, {"s": sketch, "c": context, "x": cells}],
  ...]}`` (``x``: the denominator of each compound cell under the series).
  For a rule that ships panes (``streams.pipeline.aggregate.ships_panes``) ``ws`` and
  ``we`` bound one pane (``we - ws`` is the rule's hop), and the closer unites them.
  A window of ``customer_order_burst`` holds thousands of single-order
  customers; one record each made the partials topic as busy as the input.
* ``e`` is one per-event verdict.
* ``w`` is a source's watermark, sent to every partition.
* ``f`` packs risk facts (:class:`~streams.risk.facts.RiskFact`, as lists) for one
  partition: ``{"t": "f", "i": [fact, ...]}``, routed by customer
  (:func:`~streams.risk.facts.risk_partition`).

:func:`closer_partition` decides which partition (closer) owns a series.
``replay`` round-trips its partials through the same encoding, so the closer
sees the same bytes whether they crossed Kafka or not.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import asdict
from types import MappingProxyType
from typing import Any

import msgspec

from streams.pipeline.aggregate import EventAlert, Partial, SealedPartial
from streams.risk.facts import RiskFact, risk_partition
from streams.rules.registry import DEFAULT_REGISTRY
from thresholds.decision import Decision

__all__ = [
    "COLOCATED",
    "PACK_MAX_ITEMS",
    "SHARED",
    "RiskFacts",
    "Watermark",
    "closer_partition",
    "decode",
    "encode_event_alert",
    "encode_watermark",
    "pack_partials",
    "pack_risk_facts",
]

#: Partials per packed record at most (keeps a record far below the producer's batch size).
PACK_MAX_ITEMS = 2_000


class Watermark(tuple[str, int]):
    """``(source, watermark_ms)``."""

    __slots__ = ()

    @property
    def source(self) -> str:
        """Who sent the watermark (an intake instance)."""
        return self[0]

    @property
    def watermark_ms(self) -> int:
        """The event-time watermark, epoch ms."""
        return self[1]


class RiskFacts(tuple[RiskFact, ...]):
    """The risk facts of one ``f`` record."""

    __slots__ = ()


#: The shipped rules whose series live on one closer (:attr:`Rule.colocated
#: <streams.rules.spec.Rule.colocated>`), each with the dimensions that still spread by id
#: (:attr:`Rule.spread <streams.rules.spec.Rule.spread>`).
COLOCATED: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: DEFAULT_REGISTRY[name].spread for name in DEFAULT_REGISTRY.with_trait("colocated")}
)


#: The shipped rules with shared-denominator fields (:attr:`Rule.shared_denominator
#: <streams.rules.spec.Rule.shared_denominator>`), each with those fields: a dimension
#: holding one (``reason``, ``region,carrier,reason``) shares its denominator.
SHARED: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        name: DEFAULT_REGISTRY[name].shared_denominator
        for name in DEFAULT_REGISTRY.with_trait("shared_denominator")
    }
)


def closer_partition(
    series: str,
    partitions: int,
    colocated: Mapping[str, Collection[str]] = COLOCATED,
    shared: Mapping[str, Collection[str]] = SHARED,
) -> int:
    """The partials-topic partition (and so the closer) that owns ``series``.

    CRC-32 of the series id: stable across processes and versions of Python (unlike
    ``hash``) and computed in C (aiokafka's murmur2 is pure Python, ~12 us a key).
    The series of a rule in ``colocated`` (default: the shipped colocated rules) route by
    the rule's name, so one closer sees the rule's total and peers beside its keys; those
    of a dimension the rule spreads (its SKUs) route by their own id. The series of a
    dimension with a part in ``shared`` (default: the shipped shared-denominator fields,
    e.g. ``cancellation_rate`` by ``reason``) route by ``rule:dimension``, so the closer
    that judges them holds the denominator they share.
    """
    cut = series.find(":")
    end = series.find(":", cut + 1)
    rule, dimension = series[:cut], series[cut + 1 : end]
    spread = colocated.get(rule)
    if spread is not None and dimension not in spread:
        return zlib.crc32(rule.encode()) % partitions
    fields = shared.get(rule)
    if fields and any(part in fields for part in dimension.split(",")):
        return zlib.crc32(series[:end].encode()) % partitions
    return zlib.crc32(series.encode()) % partitions


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


#: Packed partials, the bulk of this topic, are written by msgspec (compact, sorted keys,
#: UTF-8): their numbers are finite sums and counts, so json's NaN spelling never arises.
_dumps_partials = msgspec.json.Encoder(order="sorted").encode
_loads = msgspec.json.Decoder().decode


def _item(sealed: SealedPartial) -> list[Any]:
    partial = sealed.partial
    item: list[Any] = [sealed.dimension, sealed.key, partial.num, partial.den]
    if partial.rich:
        # Unordered contexts: the encoder sorts every object's keys (same bytes, no copy).
        item.append(partial.extras(ordered=False))
    return item


def pack_partials(
    partials: Iterable[SealedPartial], partitions: int, max_items: int = PACK_MAX_ITEMS
) -> Iterator[tuple[int, bytes]]:
    """``(partition, record)`` pairs carrying ``partials``, grouped by source, rule,
    window and owning partition, in the order each group first appears."""
    groups: dict[tuple[int, str, str, int, int], list[list[Any]]] = {}
    for sealed in partials:
        group = (
            0 if partitions == 1 else closer_partition(sealed.series, partitions),
            sealed.source,
            sealed.rule,
            sealed.window_start_ms,
            sealed.window_end_ms,
        )
        items = groups.get(group)
        if items is None:
            items = groups[group] = []
        items.append(_item(sealed))
    for (partition, source, rule, start, end), items in groups.items():
        for first in range(0, len(items), max_items):
            yield (
                partition,
                _dumps_partials(
                    {
                        "t": "P",
                        "src": source,
                        "r": rule,
                        "ws": start,
                        "we": end,
                        "i": items[first : first + max_items],
                    }
                ),
            )


def pack_risk_facts(
    facts: Iterable[RiskFact], partitions: int, max_items: int = PACK_MAX_ITEMS
) -> Iterator[tuple[int, bytes]]:
    """``(partition, record)`` pairs carrying ``facts``, each to its customer's partition,
    in their order."""
    groups: dict[int, list[list[Any]]] = {}
    for fact in facts:
        groups.setdefault(risk_partition(fact, partitions), []).append(fact.to_list())
    for partition, items in groups.items():
        for first in range(0, len(items), max_items):
            yield partition, _dumps({"t": "f", "i": items[first : first + max_items]})


def encode_event_alert(verdict: EventAlert) -> bytes:
    """Encode a per-event verdict."""
    return _dumps(
        {
            "t": "e",
            "src": verdict.source,
            "r": verdict.rule,
            "dm": verdict.dimension,
            "k": verdict.key,
            "ts": verdict.ts_ms,
            "d": asdict(verdict.decision),
            "c": verdict.context,
        }
    )


def encode_watermark(source: str, watermark_ms: int) -> bytes:
    """Encode a source's watermark."""
    return _dumps({"t": "w", "src": source, "wm": watermark_ms})


def _unpack(obj: dict[str, Any]) -> list[SealedPartial]:
    source, rule, start, end = obj["src"], obj["r"], obj["ws"], obj["we"]
    out = []
    for item in obj["i"]:
        if len(item) == 4:
            partial = Partial(float(item[2]), float(item[3]))
        else:
            partial = Partial.from_parts(item[2], item[3], item[4])
        out.append(SealedPartial(source, rule, item[0], item[1], start, end, partial))
    return out


def decode(raw: bytes) -> list[SealedPartial] | EventAlert | Watermark | RiskFacts:
    """Decode any record of the partials topic (a packed record gives a list)."""
    try:
        obj = _loads(raw)
    except msgspec.DecodeError:  # NaN or Infinity in a verdict's decision, as json writes it
        obj = json.loads(raw)
    tag = obj["t"]
    if tag == "P":
        return _unpack(obj)
    if tag == "e":
        return EventAlert(
            obj["src"], obj["r"], obj["dm"], obj["k"], obj["ts"], Decision(**obj["d"]), obj["c"]
        )
    if tag == "w":
        return Watermark((obj["src"], obj["wm"]))
    if tag == "f":
        return RiskFacts(RiskFact.from_list(item) for item in obj["i"])
    raise ValueError(f"unknown partials record type {tag!r}")
