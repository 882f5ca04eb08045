"""A source aggregator's snapshot layout: a JSON header, then its norms, orders and
delivery memories as raw arrays.

:meth:`~streams.pipeline.aggregate.SourceAggregator.snapshot` writes
:data:`SNAPSHOT_MAGIC`, a 4-byte little-endian length, a JSON header (the small state
and each rule's norm keys), then per rule in header order the norms' ``n`` (int64),
``level`` and ``var`` (float64) and fold times (int64) as raw little-endian arrays, then
the order book's columns and each rule's delivery memory. Under a key flood a source
holds 100,000s of norms: as JSON (one list per norm) they cost 0.45 s of CPU per
snapshot on the event loop, as arrays a few tens of ms (``benchmarks/key_flood.py``).
The JSON-only snapshots of earlier versions are still read.

>>> state = NormState(3, 1.5, 0.25)
>>> data = encode_snapshot({"resume_offset": 7}, {"order_outlier": ({"sku:A": state}, {})})
>>> snapshot = read_snapshot(data)
>>> resume_offset(data), snapshot.norms["order_outlier"][0]["sku:A"] == state
(7, True)
>>> snapshot.norms["order_outlier"][1]  # no fold time known
{'sku:A': None}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from streams.pipeline.order_state import SNAPSHOT_COLUMNS
from thresholds.event_norm import NormState

__all__ = [
    "SNAPSHOT_MAGIC",
    "AggregatorSnapshot",
    "Norms",
    "encode_snapshot",
    "read_snapshot",
    "resume_offset",
]

SNAPSHOT_MAGIC: Final = b"agg/2"
#: Fold time written for a norm without one (restored as fed at the snapshot's watermark).
_UNSEEN: Final = -(1 << 63)

#: Per rule: its norms by key, and when each was last fed (``None``: unknown).
Norms = dict[str, tuple[dict[str, NormState], dict[str, int | None]]]


@dataclass(frozen=True, slots=True)
class AggregatorSnapshot:
    """A snapshot read back: the JSON header, the norms, where the order book's columns
    start in the snapshot's bytes (``None``: no order book) and each rule's delivery
    memory bytes."""

    state: dict[str, Any]
    norms: Norms
    orders_at: int | None = None
    cohorts: dict[str, bytes] = field(default_factory=dict)


def encode_snapshot(
    small: Mapping[str, Any],
    norms: Mapping[str, tuple[Mapping[str, NormState], Mapping[str, int]]],
    cohorts: Sequence[tuple[str, bytes]] = (),
    order_arrays: Sequence[bytes] = (),
) -> bytes:
    """The snapshot of ``small`` (the header's own fields), ``norms`` (per rule the norms
    and their fold times; a norm without a fold time is written as unknown), the delivery
    memories ``cohorts`` and the order book's ``order_arrays`` (its header in ``small``)."""
    rules = sorted(norms)
    arrays: list[bytes] = []
    for rule in rules:
        states, seen = norms[rule]
        values = list(states.values())
        count = len(values)
        arrays += [
            np.fromiter([s.n for s in values], "<i8", count).tobytes(),
            np.fromiter([s.level for s in values], "<f8", count).tobytes(),
            np.fromiter([s.var for s in values], "<f8", count).tobytes(),
            np.fromiter([seen.get(key, _UNSEEN) for key in states], "<i8", count).tobytes(),
        ]
    header: dict[str, Any] = {
        **small,
        "norm_keys": [[rule, list(norms[rule][0])] for rule in rules],
        **({"cohorts": [[rule, len(blob)] for rule, blob in cohorts]} if cohorts else {}),
    }
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return b"".join(
        [
            SNAPSHOT_MAGIC,
            len(text).to_bytes(4, "little"),
            text,
            *arrays,
            *order_arrays,
            *(blob for _, blob in cohorts),
        ]
    )


def resume_offset(snapshot: bytes) -> int:
    """The input offset a :meth:`SourceAggregator.snapshot` resumes at."""
    return int(read_snapshot(snapshot).state["resume_offset"])


def read_snapshot(data: bytes) -> AggregatorSnapshot:
    """Read a snapshot written by :func:`encode_snapshot` (or the older JSON-only form)."""
    if not data.startswith(SNAPSHOT_MAGIC):
        state = json.loads(data)
        fed = state.get("norm_seen", {})
        return AggregatorSnapshot(
            state,
            {
                rule: (
                    {key: _norm_state(value) for key, value in states.items()},
                    {
                        key: (None if key not in fed.get(rule, {}) else int(fed[rule][key]))
                        for key in states
                    },
                )
                for rule, states in state["norms"].items()
            },
        )
    start = len(SNAPSHOT_MAGIC)
    size = int.from_bytes(data[start : start + 4], "little")
    offset = start + 4 + size
    state = json.loads(data[start + 4 : offset])
    norms: Norms = {}
    for rule, keys in state["norm_keys"]:
        count = len(keys)
        columns = []
        for dtype in ("<i8", "<f8", "<f8", "<i8"):
            columns.append(np.frombuffer(data, dtype, count, offset).tolist())
            offset += 8 * count
        n, level, var, seen = columns
        norms[rule] = (
            {key: NormState(n[i], level[i], var[i]) for i, key in enumerate(keys)},
            {key: None if seen[i] == _UNSEEN else seen[i] for i, key in enumerate(keys)},
        )
    orders_at = None
    if "orders" in state:
        orders_at = offset
        offset += 8 * SNAPSHOT_COLUMNS * len(state["orders"]["ids"])
    cohorts: dict[str, bytes] = {}
    for rule, length in state.get("cohorts", []):
        cohorts[rule] = data[offset : offset + length]
        offset += length
    if offset != len(data):
        msg = f"aggregator snapshot has {len(data) - offset} trailing bytes"
        raise ValueError(msg)
    return AggregatorSnapshot(state, norms, orders_at, cohorts)


def _norm_state(value: list[Any] | str) -> NormState:
    """A norm state from a JSON-only snapshot: ``[n, level, var]`` (or the JSON text the
    oldest ones held)."""
    if isinstance(value, str):
        return NormState.from_json(value)
    n, level, var = value
    return NormState(int(n), float(level), float(var))
