"""Order cohorts of one input partition: lag-aware rates.

Size: one structure, the remembered anchors, their delay histograms and the snapshot
image that writes and reads the same private columns (an image module apart would
reach into them).

Returns are requested days after delivery (mostly 1-7 days), so returns counted in a
window against the same window's deliveries mix the returns of many earlier cohorts:
a sizing error's extra returns drown in the returns of last week's deliveries, and a
promotion's delivery surge comes back as a "return wave" days after its deliveries.
Cancellations lag their placement the same way, by hours: when a promotion's orders
fall back, its orders' cancellations go on arriving against fewer placements.

An order's events share a partition (orders are keyed by ``order_id``), so the
aggregator of that partition remembers each order's *anchor* event (the rule's
denominator: a delivery for ``return_rate``, a placement for ``cancellation_rate``) for
``cohort`` (a rule setting, e.g. 3 days) and, for the rule's windows ``[s, e)``. Below,
"delivery" stands for the anchor and "return" for the event it is the cohort of:

* **numerator**: only *early* returns, requested at most ``cohort`` after their own
  order's delivery (a return of an order delivered earlier, or never seen, counts
  nowhere). Recent cohorts carry the news; older returns were only noise;
* **denominator**: the window's *exposure*, the expected share of each remembered
  delivery's early returns that falls in the window::

      E(key) = sum over deliveries d of key of  K(e - t_d) - K(s - t_d)

  where ``K`` is the distribution function of the delay from delivery to return on
  ``[0, cohort]``, learned from this partition's attributed returns (a histogram of
  ``hop``-wide bins, uniform prior, exponentially forgotten). Expected early returns
  are ``p * E``: the reporting-delay convolution of nowcasting (Lawless 1994) used as
  an exposure offset (McCullagh & Nelder 1989, sec. 6.2.3). In steady traffic ``E``
  equals the deliveries per window, and it follows a promotion's deliveries into the
  days their returns arrive.

A rule may also learn one delay per key of a ``split`` dimension (``cancellation_rate``'s
``reason``, a shared-denominator dimension: every placement is exposed to every
reason): a failed payment is cancelled within minutes, a changed mind hours later, so
each reason's series divides by its own exposure ``sum K_r(e - t) - K_r(s - t)`` over
every remembered anchor. With the mixed delay only, a burst of quick cancellations at
night was judged against the day's smoothed placements and lost half its size.

The early-return count of a window is a sum of independent Bernoulli draws with mean
``p * E`` and variance at most that, which the engine judges as a binomial share of
``E`` (its exact mid-p tail when ``p E`` is small, :func:`thresholds.tails.binomial_z`).

Determinism: the delay histogram learns only when a window seals (from the returns of
the window's first pane), and deliveries are forgotten only once no later window or
on-time return can need them (older than the sealed window's start minus ``cohort``);
so the exposure depends on the partition's events alone, never on how the runtime
batches them, and a restart from a snapshot continues exactly.

References
----------
Lawless, J. F. (1994). Adjustments for reporting delays and the prediction of occurred
but not reported events. *Canadian Journal of Statistics* 22(1), 15-31.
McCullagh, P. and Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_DELIVERIES", "MAX_SPLIT_KEYS", "CohortMemory"]

#: Most deliveries one partition remembers per rule; beyond, new deliveries are not
#: remembered (their returns count nowhere) until old ones are forgotten.
MAX_DELIVERIES: Final = 2_000_000
#: Pseudo-count of every delay bin before any return is seen (a uniform delay).
_PRIOR: Final = 1.0
#: Per sealed window with attributed returns, the weight the delay histogram keeps
#: (half-life ~70 such windows).
_DECAY: Final = 0.99
#: Most keys of the ``split`` dimension with a delay of their own; later ones share the
#: rule's (a flood of reasons cannot grow the memory).
MAX_SPLIT_KEYS: Final = 64
_SEP: Final = "\x1f"


class CohortMemory:
    """Remembered anchors (deliveries) and the learned anchor-to-event delay of one rule.

    Parameters
    ----------
    cohort_ms
        How long after its delivery a return still counts (and a delivery is kept).
    hop_ms
        The rule's hop: the width of the delay histogram's bins.
    dimensions
        The rule's dimension names (as the series show them, e.g. ``"region,carrier"``).
    split
        A dimension whose keys each learn a delay of their own and get an exposure from
        it (all anchors count for each key: a shared-denominator dimension), or ``None``.
    """

    def __init__(
        self,
        cohort_ms: int,
        hop_ms: int,
        dimensions: tuple[str, ...],
        split: str | None = None,
    ) -> None:
        self.cohort_ms = cohort_ms
        self.bins = max(1, math.ceil(cohort_ms / hop_ms))
        self.dimensions = dimensions
        self.split = split
        self.hist = np.full(self.bins, _PRIOR)
        #: Per key of ``split``: its own delay histogram.
        self.split_hists: dict[str, npt.NDArray[np.float64]] = {}
        #: order_id -> delivery time.
        self.delivered: dict[str, int] = {}
        self._orders: list[str] = []
        self._ts: list[int] = []
        #: Per dimension: the key id of each remembered delivery (-1: none).
        self._ids: list[list[int]] = [[] for _ in dimensions]
        self._key_ids: list[dict[str, int]] = [{} for _ in dimensions]
        self._names: list[list[str]] = [[] for _ in dimensions]
        #: Delays (and ``split`` keys) of attributed returns per pane start, learned when
        #: the pane's window seals.
        self.pending: dict[int, list[tuple[int, str | None]]] = {}
        #: Deliveries not remembered because the memory was full (since the last drain).
        self.refused = 0
        #: Earliest and latest remembered delivery time (valid while any is remembered).
        self._span = (0, 0)
        self._reset_arrays()

    def _reset_arrays(self) -> None:
        """Drop the array copies of the columns (rebuilt by :meth:`_arrays`)."""
        self._np_ts: npt.NDArray[np.float64] = np.zeros(0)
        self._np_ids: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64) for _ in self.dimensions]

    def __len__(self) -> int:
        return len(self._ts)

    # -- events -----------------------------------------------------------------------------

    def remember(self, order_id: str, ts_ms: int, keys: list[tuple[str, str]]) -> None:
        """Remember an order's anchor (delivery) and the series it belongs to (the first
        wins)."""
        if order_id in self.delivered:
            return
        if len(self._ts) >= MAX_DELIVERIES:
            self.refused += 1
            return
        self.delivered[order_id] = ts_ms
        if not self._ts:
            self._span = (ts_ms, ts_ms)
        else:
            self._span = (min(self._span[0], ts_ms), max(self._span[1], ts_ms))
        self._orders.append(order_id)
        self._ts.append(ts_ms)
        by_dim = dict(keys)
        for i, dimension in enumerate(self.dimensions):
            key = by_dim.get(dimension)
            self._ids[i].append(-1 if key is None else self._key_id(i, key))

    def age(self, order_id: str, ts_ms: int) -> int | None:
        """Delay of a return at ``ts_ms`` since its order's delivery, or ``None`` when the
        delivery is unknown or the return is not early (later than ``cohort``)."""
        delivered = self.delivered.get(order_id)
        if delivered is None:
            return None
        age = ts_ms - delivered
        return age if 0 <= age <= self.cohort_ms else None

    def note(self, pane_ms: int, age_ms: int, keys: Sequence[tuple[str, str]] = ()) -> None:
        """An attributed return in the pane starting at ``pane_ms``, of the series ``keys``
        (learned at seal)."""
        split = None
        if self.split is not None:
            split = next((key for dimension, key in keys if dimension == self.split), None)
        self.pending.setdefault(pane_ms, []).append((age_ms, split))

    # -- sealing ----------------------------------------------------------------------------

    def cdf(
        self, age_ms: npt.NDArray[np.float64], hist: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.float64]:
        """``K``: the learned share of early returns requested within ``age_ms`` of delivery
        (0 before delivery, 1 from ``cohort`` on; linear inside a bin), from ``hist`` (a
        ``split`` key's) or the rule's."""
        hist = self.hist if hist is None else hist
        edges = np.linspace(0.0, float(self.cohort_ms), self.bins + 1)
        cum = np.concatenate(([0.0], np.cumsum(hist) / hist.sum()))
        return np.interp(age_ms, edges, cum)

    def exposure(self, start_ms: int, end_ms: int) -> dict[tuple[str, str], float]:
        """Per ``(dimension, key)``: the window's exposure ``sum K(e - t) - K(s - t)``; per
        key of ``split`` with its own delay, the same with that delay over every anchor."""
        if not self._ts:
            return {}
        out = self._exposure(self._weight(start_ms, end_ms))
        split = self.split
        if split is not None and self.split_hists:
            ts, _ = self._arrays()
            for key, hist in self.split_hists.items():
                weight = self.cdf(end_ms - ts, hist) - self.cdf(start_ms - ts, hist)
                total = float(weight.sum())
                if total > 1e-9:
                    out[(split, key)] = total
        return out

    def exposure_with_cells(
        self, start_ms: int, end_ms: int, cell: str, within: tuple[str, ...]
    ) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], dict[str, float]]]:
        """:meth:`exposure`, and per ``(dimension, key)`` of the ``within`` dimensions the
        same split by the deliveries' cells of the compound dimension ``cell``
        (deliveries without a cell are in none)."""
        if not self._ts:
            return {}, {}
        weight = self._weight(start_ms, end_ms)
        return self._exposure(weight), self._exposure_by_cell(weight, cell, within)

    def _weight(self, start_ms: int, end_ms: int) -> npt.NDArray[np.float64]:
        """Each remembered delivery's expected share of early returns in ``[start, end)``."""
        ts, _ = self._arrays()
        return self.cdf(end_ms - ts) - self.cdf(start_ms - ts)

    def _exposure(self, weight: npt.NDArray[np.float64]) -> dict[tuple[str, str], float]:
        _, columns = self._arrays()
        out: dict[tuple[str, str], float] = {}
        for i, dimension in enumerate(self.dimensions):
            ids = columns[i]
            has = ids >= 0
            sums = np.bincount(ids[has], weights=weight[has], minlength=len(self._names[i]))
            names = self._names[i]
            for k in np.flatnonzero(sums > 1e-9).tolist():
                out[(dimension, names[k])] = float(sums[k])
        return out

    def _exposure_by_cell(
        self, weight: npt.NDArray[np.float64], cell: str, within: tuple[str, ...]
    ) -> dict[tuple[str, str], dict[str, float]]:
        if cell not in self.dimensions:
            return {}
        _, columns = self._arrays()
        c = self.dimensions.index(cell)
        cells, cell_names = columns[c], self._names[c]
        width = max(1, len(cell_names))
        out: dict[tuple[str, str], dict[str, float]] = {}
        for dimension in within:
            if dimension not in self.dimensions:
                continue
            i = self.dimensions.index(dimension)
            ids = columns[i]
            has = (ids >= 0) & (cells >= 0) & (weight > 0)
            sums = np.bincount(ids[has] * width + cells[has], weights=weight[has], minlength=0)
            names = self._names[i]
            for flat in np.flatnonzero(sums > 1e-9).tolist():
                key, k = divmod(flat, width)
                out.setdefault((dimension, names[key]), {})[cell_names[k]] = float(sums[flat])
        return out

    def windows(
        self, after_ms: int | None, window_ms: int, hop_ms: int, watermark_ms: int
    ) -> range:
        """Starts of the windows past ``after_ms`` that the watermark has passed and that
        some remembered delivery is exposed in (so they seal even without events)."""
        if not self._ts:
            return range(0)
        first = (self._span[0] - window_ms) // hop_ms * hop_ms + hop_ms
        if after_ms is not None:
            first = max(first, after_ms + hop_ms)
        last = min(self._span[1] + self.cohort_ms, watermark_ms - window_ms)
        return range(first, last + 1, hop_ms)

    def _arrays(self) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.int64]]]:
        """The delivery times and key ids as arrays; only rows added since the last call
        are converted (a seal would otherwise convert every remembered delivery)."""
        done = len(self._np_ts)
        if done < len(self._ts):
            self._np_ts = np.concatenate((self._np_ts, np.asarray(self._ts[done:], np.float64)))
            self._np_ids = [
                np.concatenate((old, np.asarray(ids[done:], np.int64)))
                for old, ids in zip(self._np_ids, self._ids, strict=True)
            ]
        return self._np_ts, self._np_ids

    def sealed(self, start_ms: int) -> None:
        """The window starting at ``start_ms`` sealed: learn the delays of its first pane
        and forget deliveries no later window or on-time return can need."""
        noted = self.pending.pop(start_ms, None)
        if noted:
            # Forget only at windows with returns: which empty windows seal depends on when
            # the runtime calls ``seal`` (a window past every remembered delivery may or may
            # not be sealed yet), and the delay must not.
            self.hist *= _DECAY
            self.hist += self._binned([age for age, _ in noted])
            by_key: dict[str, list[int]] = {}
            for age, key in noted:
                if key is not None:
                    by_key.setdefault(key, []).append(age)
            for key, ages in sorted(by_key.items()):
                hist = self.split_hists.get(key)
                if hist is None:
                    if len(self.split_hists) >= MAX_SPLIT_KEYS:
                        continue
                    hist = self.split_hists[key] = np.full(self.bins, _PRIOR)
                hist *= _DECAY
                hist += self._binned(ages)
        for pane in [p for p in self.pending if p < start_ms]:
            del self.pending[pane]  # a pane no window will seal (cannot happen in order)
        self._forget(start_ms - self.cohort_ms)

    def _binned(self, ages: list[int]) -> npt.NDArray[np.float64]:
        """Counts of ``ages`` per delay bin."""
        bins = np.minimum(
            np.asarray(ages, np.float64) * self.bins / self.cohort_ms, self.bins - 1
        ).astype(np.int64)
        return np.bincount(bins, minlength=self.bins).astype(np.float64)

    def _forget(self, before_ms: int) -> None:
        if not self._ts or self._span[0] >= before_ms:
            return
        keep = [i for i, t in enumerate(self._ts) if t >= before_ms]
        for i, order_id in enumerate(self._orders):
            if self._ts[i] < before_ms:
                del self.delivered[order_id]
        self._orders = [self._orders[i] for i in keep]
        self._ts = [self._ts[i] for i in keep]
        self._ids = [[ids[i] for i in keep] for ids in self._ids]
        self._span = (min(self._ts, default=0), max(self._ts, default=0))
        self._reset_arrays()
        if len(self.delivered) < len(self._ts) // 2 + 1:
            self.delivered = dict(self.delivered)  # a dict keeps its table after deletions

    def _key_id(self, dim: int, key: str) -> int:
        table = self._key_ids[dim]
        found = table.get(key)
        if found is None:
            found = table[key] = len(self._names[dim])
            self._names[dim].append(key)
        return found

    # -- snapshots --------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The memory as bytes: a JSON header (histogram, dimensions, key names), then the
        order ids, the delivery times (int64) and per dimension the key ids (int32).

        Delays of panes not yet sealed are left out: a restored aggregator re-reads those
        panes' events (it resumes at the first offset an open window needs) and notes them
        again."""
        used = [sorted({k for k in ids if k >= 0}) for ids in self._ids]
        names = [[self._names[d][k] for k in keys] for d, keys in enumerate(used)]
        remap = [{k: j for j, k in enumerate(keys)} for keys in used]
        header = json.dumps(
            {
                "hist": self.hist.tolist(),
                **(
                    {"split": {k: h.tolist() for k, h in sorted(self.split_hists.items())}}
                    if self.split_hists
                    else {}
                ),
                "dims": list(self.dimensions),
                "names": names,
                "count": len(self._ts),
            },
            separators=(",", ":"),
        ).encode()
        orders = _SEP.join(self._orders).encode()
        parts = [
            len(header).to_bytes(4, "little"),
            header,
            len(orders).to_bytes(4, "little"),
            orders,
            np.asarray(self._ts, "<i8").tobytes(),
        ]
        parts += [
            np.asarray([remap[d].get(k, -1) for k in ids], "<i4").tobytes()
            for d, ids in enumerate(self._ids)
        ]
        return b"".join(parts)

    def load(self, data: bytes) -> None:
        """Replace this memory's content with a :meth:`to_bytes` image (one taken under
        other dimensions is ignored: the memory starts empty)."""
        size = int.from_bytes(data[:4], "little")
        header = json.loads(data[4 : 4 + size])
        if header.get("dims") != list(self.dimensions):
            return
        offset = 4 + size
        length = int.from_bytes(data[offset : offset + 4], "little")
        offset += 4
        text = data[offset : offset + length].decode()
        offset += length
        count = int(header["count"])
        hist = np.asarray(header["hist"], np.float64)
        if len(hist) == self.bins:  # a changed cohort or hop starts from the prior
            self.hist = hist
        self.split_hists = {}
        if self.split is not None:
            for key, values in header.get("split", {}).items():
                if len(values) == self.bins:
                    self.split_hists[key] = np.asarray(values, np.float64)
        self._orders = text.split(_SEP) if count else []
        self._ts = np.frombuffer(data, "<i8", count, offset).tolist()
        offset += 8 * count
        names = header["names"]
        self._names = [list(n) for n in names]
        self._key_ids = [{key: i for i, key in enumerate(n)} for n in names]
        self._ids = []
        for _ in self.dimensions:
            self._ids.append(np.frombuffer(data, "<i4", count, offset).tolist())
            offset += 4 * count
        if offset != len(data):
            msg = f"delivery memory snapshot has {len(data) - offset} trailing bytes"
            raise ValueError(msg)
        self.delivered = dict(zip(self._orders, self._ts, strict=True))
        self._span = (min(self._ts, default=0), max(self._ts, default=0))
        self._reset_arrays()
        self.pending = {}
