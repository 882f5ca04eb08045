"""Many series of one detector configuration, evaluated together with numpy.

:class:`SeriesBank` keeps the states of all series of one rule as columns and
closes one window for any subset of them in a single vectorised
:func:`~thresholds.engine.step`. Series are added on demand by id; one series'
state can be exported as bytes (for a keyed table) and imported back.

Results are identical, bit for bit, to running each series through
:class:`~thresholds.detector.Detector`: both call the same function.

Each series also carries a *last seen* time (event time, set by :meth:`touch`), so
the owner can drop idle series (:meth:`idle`, :meth:`remove`). A removed series that
comes back starts fresh.

Examples
--------
>>> import numpy as np
>>> bank = SeriesBank(DetectorConfig(kind="count", grace_period=3))
>>> rows = bank.rows(["sku-1", "sku-2"])
>>> for t in range(4):
...     out = bank.evaluate(t * 3_600_000, rows, np.array([10.0, 20.0]))
>>> out = bank.evaluate(4 * 3_600_000, rows, np.array([10.0, 90.0]))
>>> out.transition.tolist()
[0, 1]
>>> out.decision(1).direction
'up'
>>> blob = bank.export_state("sku-2")
>>> other = SeriesBank(bank.config)
>>> other.import_state("sku-2", blob)
>>> other.export_state("sku-2") == blob
True
>>> bank.touch(rows[:1], 5)
>>> bank.idle(seen_before_ms=4)
['sku-2']
>>> bank.remove(["sku-2"])
>>> bank.ids
('sku-1',)

References
----------
See :mod:`thresholds.engine`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields

import numpy as np
import numpy.typing as npt

from thresholds.config import DetectorConfig
from thresholds.engine import Columns, Outcome, step
from thresholds.errors import StateMismatchError
from thresholds.state import SeriesState

__all__ = ["SeriesBank"]

_INITIAL_CAPACITY = 64
#: Last-seen time of a series never touched (older than any event time).
NEVER_SEEN = -(1 << 62)


class SeriesBank:
    """Struct-of-arrays store of many series sharing one :class:`DetectorConfig`.

    Parameters
    ----------
    config
        The configuration every series in the bank uses.
    """

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._cols = Columns.empty(config, _INITIAL_CAPACITY)
        self._seen = np.full(_INITIAL_CAPACITY, NEVER_SEEN, np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, series_id: object) -> bool:
        return series_id in self._index

    @property
    def ids(self) -> Sequence[str]:
        """Series ids in row order."""
        return tuple(self._ids)

    def rows(self, series_ids: Iterable[str], *, create: bool = True) -> npt.NDArray[np.intp]:
        """Return the row of each id, adding unknown ids when ``create`` is true."""
        out = []
        for sid in series_ids:
            row = self._index.get(sid)
            if row is None:
                if not create:
                    raise KeyError(sid)
                row = self._add(sid)
            out.append(row)
        return np.asarray(out, dtype=np.intp)

    def _add(self, series_id: str) -> int:
        row = len(self._ids)
        if row >= len(self._cols):
            self._cols = self._cols.grow(self.config, 2 * len(self._cols))
            seen = np.full(len(self._cols), NEVER_SEEN, np.int64)
            seen[:row] = self._seen[:row]
            self._seen = seen
        self._index[series_id] = row
        self._ids.append(series_id)
        return row

    def touch(self, rows: npt.NDArray[np.intp], ts_ms: int) -> None:
        """Mark ``rows`` as seen at ``ts_ms`` (event time of their newest data)."""
        self._seen[np.asarray(rows, dtype=np.intp)] = ts_ms

    def last_seen(self, series_id: str) -> int:
        """When ``series_id`` was last :meth:`touch`-ed (``NEVER_SEEN`` if never)."""
        return int(self._seen[self._index[series_id]])

    def idle(self, seen_before_ms: int) -> list[str]:
        """Ids last seen at or before ``seen_before_ms``, in row order."""
        n = len(self._ids)
        return [self._ids[row] for row in np.flatnonzero(self._seen[:n] <= seen_before_ms)]

    def least_recent(self, count: int, exclude: Iterable[str] = ()) -> list[str]:
        """The ``count`` ids seen longest ago (ties by id), skipping ``exclude``."""
        skip = set(exclude)
        n = len(self._ids)
        order = sorted(range(n), key=lambda row: (int(self._seen[row]), self._ids[row]))
        return [self._ids[row] for row in order if self._ids[row] not in skip][: max(count, 0)]

    def remove(self, series_ids: Iterable[str]) -> None:
        """Drop series (unknown ids are ignored); the bank compacts and may shrink."""
        drop = {self._index[sid] for sid in series_ids if sid in self._index}
        if not drop:
            return
        keep = np.asarray([row for row in range(len(self._ids)) if row not in drop], dtype=np.intp)
        capacity = len(self._cols)
        if len(keep) * 4 <= capacity:
            capacity = max(_INITIAL_CAPACITY, 1 << int(2 * max(len(keep), 1) - 1).bit_length())
        cols = Columns.empty(self.config, capacity)
        cols.put(np.arange(len(keep)), self._cols.take(keep))
        seen = np.full(capacity, NEVER_SEEN, np.int64)
        seen[: len(keep)] = self._seen[keep]
        self._cols, self._seen = cols, seen
        self._ids = [self._ids[row] for row in keep]
        self._index = {sid: row for row, sid in enumerate(self._ids)}

    def evaluate(
        self,
        ts_ms: int,
        rows: npt.NDArray[np.intp],
        value: npt.ArrayLike,
        sample_size: npt.ArrayLike | None = None,
        noise: npt.ArrayLike | None = None,
        exposure: npt.ArrayLike | None = None,
        sides: npt.ArrayLike | None = None,
        *,
        z_scale: npt.ArrayLike | None = None,
        learn: npt.ArrayLike | None = None,
        guard_value: npt.ArrayLike | None = None,
        sequential: npt.ArrayLike | None = None,
        cusum_scale: npt.ArrayLike | None = None,
        learn_offset: npt.ArrayLike | None = None,
    ) -> Outcome:
        """Close the window ending at ``ts_ms`` for ``rows``; update them; return decisions.

        ``value``, ``sample_size``, ``noise``, ``exposure``, ``sides``, ``z_scale``,
        ``learn``, ``guard_value``, ``sequential``, ``cusum_scale`` and ``learn_offset``
        are aligned with
        ``rows`` (see :meth:`thresholds.detector.Detector.score` for their meaning per kind
        and :func:`thresholds.engine.step` for the others).
        Rows must be distinct.
        """
        rows = np.asarray(rows, dtype=np.intp)
        if len(np.unique(rows)) != len(rows):
            msg = "rows must be distinct within one window"
            raise ValueError(msg)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self._ids)):
            msg = "rows must come from SeriesBank.rows()"
            raise IndexError(msg)
        sub = self._cols.take(rows)
        out, new = step(
            self.config,
            sub,
            ts_ms,
            value,
            sample_size,
            noise,
            exposure,
            sides,
            z_scale=z_scale,
            learn=learn,
            guard_value=guard_value,
            sequential=sequential,
            cusum_scale=cusum_scale,
            learn_offset=learn_offset,
        )
        self._cols.put(rows, new)
        return out

    def peek(
        self,
        ts_ms: int,
        rows: npt.NDArray[np.intp],
        value: npt.ArrayLike,
        sample_size: npt.ArrayLike | None = None,
        noise: npt.ArrayLike | None = None,
        exposure: npt.ArrayLike | None = None,
        sides: npt.ArrayLike | None = None,
        *,
        guard_value: npt.ArrayLike | None = None,
        cusum_scale: npt.ArrayLike | None = None,
    ) -> Outcome:
        """Decide the window ending at ``ts_ms`` for ``rows`` without updating them (e.g.
        to read this window's baselines before choosing how to judge it)."""
        rows = np.asarray(rows, dtype=np.intp)
        out, _ = step(
            self.config,
            self._cols.take(rows),
            ts_ms,
            value,
            sample_size,
            noise,
            exposure,
            sides,
            guard_value=guard_value,
            cusum_scale=cusum_scale,
        )
        return out

    def export_state(self, series_id: str) -> bytes:
        """Return one series' state as bytes (:meth:`SeriesState.to_bytes`)."""
        return self.state(series_id).to_bytes()

    def state(self, series_id: str) -> SeriesState:
        """Return one series' state as a :class:`SeriesState` copy."""
        return self._cols.state(self._index[series_id], self.config.state_key)

    def import_state(self, series_id: str, data: bytes | SeriesState) -> None:
        """Load one series' state (bytes or :class:`SeriesState`), adding the id if new."""
        state = SeriesState.from_bytes(data) if isinstance(data, bytes) else data
        if state.state_key != self.config.state_key:
            msg = f"state_key {state.state_key!r} != bank's {self.config.state_key!r}"
            raise StateMismatchError(msg)
        row = int(self.rows([series_id])[0])
        self._cols.set_row(row, state)

    def export_all(self) -> bytes:
        """Every series of the bank as one blob (see :meth:`import_all`).

        A checkpoint of 100,000 series costs a few array copies instead of 100,000
        :meth:`export_state` calls. Layout: a 4-byte little-endian header length, a JSON
        header (``state_key``, ids in row order, each column's dtype and row shape), then
        each column's rows as raw bytes in that dtype; the last column is ``_seen``
        (last-seen times, absent from blobs written before eviction existed).
        """
        n = len(self._ids)
        columns = [(f.name, getattr(self._cols, f.name)[:n]) for f in fields(Columns)]
        columns.append(("_seen", self._seen[:n]))
        header = json.dumps(
            {
                "state_key": self.config.state_key,
                "ids": self._ids,
                "columns": [
                    [name, array.dtype.str, list(array.shape[1:])] for name, array in columns
                ],
            },
            separators=(",", ":"),
        ).encode()
        return b"".join(
            [
                len(header).to_bytes(4, "little"),
                header,
                *(np.ascontiguousarray(array).tobytes() for _, array in columns),
            ]
        )

    def import_all(self, data: bytes, seen_ms: int = NEVER_SEEN) -> None:
        """Load an :meth:`export_all` blob: its series are added or overwritten.

        A blob without last-seen times marks its series as seen at ``seen_ms``.
        """
        size = int.from_bytes(data[:4], "little")
        header = json.loads(data[4 : 4 + size])
        if header["state_key"] != self.config.state_key:
            msg = f"state_key {header['state_key']!r} != bank's {self.config.state_key!r}"
            raise StateMismatchError(msg)
        ids = header["ids"]
        rows = self.rows(ids)
        self._seen[rows] = seen_ms
        offset = 4 + size
        for name, dtype_str, shape in header["columns"]:
            dtype = np.dtype(dtype_str)
            count = len(ids) * int(np.prod(shape, dtype=np.int64))
            array = np.frombuffer(data, dtype, count, offset).reshape((len(ids), *shape))
            offset += array.nbytes
            if name == "_seen":
                self._seen[rows] = array
            else:
                getattr(self._cols, name)[rows] = array
        if offset != len(data):
            msg = f"bank blob has {len(data) - offset} trailing bytes"
            raise ValueError(msg)

    def memory_bytes_per_series(self) -> float:
        """Array memory per series slot (capacity included)."""
        return self._cols.nbytes() / len(self._cols)
