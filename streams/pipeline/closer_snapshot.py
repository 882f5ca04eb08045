"""The closer's snapshot layout: held partials and panes as rows, the risk section.

:meth:`~streams.pipeline.closer.WindowCloser.snapshot` writes ``SNAPSHOT_MAGIC``, a 4-byte
little-endian length, a JSON header, then the banks' blobs, the held panes (MessagePack),
the plain pending partials' numerators and denominators (raw float64 arrays) and the risk
shard's state (MessagePack). JSON-only snapshots of earlier versions are still read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np

from streams.pipeline.aggregate import Partial

__all__ = [
    "SNAPSHOT_MAGIC",
    "BySeries",
    "PendingEntry",
    "decode_panes",
    "decode_risk",
    "encode_panes",
    "encode_risk",
    "pane_rows",
    "panes_from_rows",
    "partials_from_table",
    "partials_table",
    "read_snapshot",
]

SNAPSHOT_MAGIC = b"closer/2"

#: Partials of one window (or pane) by series ``(dimension, key)`` and source.
BySeries = dict[tuple[str, str], dict[str, Partial]]
PendingEntry = tuple[str, int, str, str, str, Partial]


def partials_table(
    partials: Mapping[tuple[str, int], BySeries],
) -> tuple[list[list[Any]], list[list[Any]], list[float], list[float]]:
    """Held partials as snapshot rows, sorted: the rich ones (a sketch or a context) with
    their :meth:`~streams.pipeline.aggregate.Partial.to_dict`, the plain ones as ids with
    their numerators and denominators apart (raw arrays in the snapshot)."""
    rich: list[list[Any]] = []
    plain: list[list[Any]] = []
    nums: list[float] = []
    dens: list[float] = []
    for (rule, start), by_series in sorted(partials.items()):
        for (dimension, key), by_source in sorted(by_series.items()):
            for source, partial in sorted(by_source.items()):
                if not partial.rich:
                    plain.append([rule, start, dimension, key, source])
                    nums.append(partial.num)
                    dens.append(partial.den)
                else:
                    rich.append([rule, start, dimension, key, source, partial.to_dict()])
    return rich, plain, nums, dens


def partials_from_table(
    rich: list[list[Any]], plain: list[PendingEntry]
) -> dict[tuple[str, int], BySeries]:
    """The inverse of :func:`partials_table` (rows in sorted order)."""
    entries = [
        (rule, start, dimension, key, source, Partial.from_dict(partial))
        for rule, start, dimension, key, source, partial in rich
    ]
    entries += plain
    out: dict[tuple[str, int], BySeries] = {}
    for rule, start, dimension, key, source, partial in sorted(
        entries, key=lambda entry: entry[:5]
    ):
        by_series = out.setdefault((rule, int(start)), {})
        by_series.setdefault((dimension, key), {})[source] = partial
    return out


#: The panes section's codec (MessagePack): one row per held pane partial,
#: ``[rule, start, dimension, key, source, num, den]`` and, when the partial has a sketch
#: or a context, its :meth:`~streams.pipeline.aggregate.Partial.extras` (floats exact).
encode_panes = msgspec.msgpack.Encoder().encode
decode_panes = msgspec.msgpack.Decoder(list[list[Any]]).decode


def pane_rows(panes: Mapping[tuple[str, int], BySeries]) -> list[list[Any]]:
    """The held panes as snapshot rows, in the order they are held (a restore keeps it;
    sorting 100,000s of series cost most of the encode)."""
    rows: list[list[Any]] = []
    for (rule, start), by_series in panes.items():
        for (dimension, key), by_source in by_series.items():
            for source, partial in by_source.items():
                row: list[Any] = [rule, start, dimension, key, source, partial.num, partial.den]
                if partial.rich:
                    row.append(partial.extras(ordered=False))
                rows.append(row)
    return rows


def panes_from_rows(rows: list[list[Any]]) -> dict[tuple[str, int], BySeries]:
    """The inverse of :func:`pane_rows`."""
    out: dict[tuple[str, int], BySeries] = {}
    for row in rows:
        rule, start, dimension, key, source, num, den = row[:7]
        partial = (
            Partial.from_parts(num, den, row[7])
            if len(row) > 7
            else Partial(float(num), float(den))
        )
        by_series = out.get((rule, start))
        if by_series is None:
            by_series = out[(rule, start)] = {}
        by_source = by_series.get((dimension, key))
        if by_source is None:
            by_series[(dimension, key)] = {source: partial}
        else:
            by_source[source] = partial
    return out


def read_snapshot(
    data: bytes,
) -> tuple[
    dict[str, Any], dict[str, Any], list[PendingEntry], list[list[Any]], dict[str, Any] | None
]:
    """The small state, the banks (rule -> blob, or the base64 / per-series forms of
    JSON-only snapshots), the plain pending partials, the rows of the held panes (none
    before panes were shipped) and the risk shard's state (``None``: none; in the header
    as JSON in snapshots before its MessagePack section) of a
    :meth:`~streams.pipeline.closer.WindowCloser.snapshot`."""
    if not data.startswith(SNAPSHOT_MAGIC):
        state = json.loads(data)
        return state, state["banks"], [], [], state.get("risk")
    start = len(SNAPSHOT_MAGIC)
    size = int.from_bytes(data[start : start + 4], "little")
    offset = start + 4 + size
    state = json.loads(data[start + 4 : offset])
    banks: dict[str, Any] = {}
    for rule, length in state["banks"]:
        banks[rule] = data[offset : offset + length]
        offset += length
    pane_rows: list[list[Any]] = []
    if "panes_bytes" in state:
        size = int(state["panes_bytes"])
        pane_rows = decode_panes(data[offset : offset + size])
        offset += size
    ids = state.get("pending_plain", [])
    columns = []
    for _ in ("num", "den"):
        columns.append(np.frombuffer(data, "<f8", len(ids), offset).tolist())
        offset += 8 * len(ids)
    risk = state.get("risk")
    if "risk_bytes" in state:
        size = int(state["risk_bytes"])
        risk = decode_risk(data[offset : offset + size])
        offset += size
    if offset != len(data):
        msg = f"closer snapshot has {len(data) - offset} trailing bytes"
        raise ValueError(msg)
    plain = [
        (rule, int(start_ms), dimension, key, source, Partial(num, den))
        for (rule, start_ms, dimension, key, source), num, den in zip(ids, *columns, strict=True)
    ]
    return state, banks, plain, pane_rows, risk


#: The risk section's codec: floats as float64 (exact, NaN included), ints, strings, lists.
encode_risk = msgspec.msgpack.Encoder().encode
decode_risk = msgspec.msgpack.Decoder(dict[str, Any]).decode
