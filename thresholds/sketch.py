"""Mergeable, order-independent quantile sketch with relative accuracy (DDSketch).

Values are counted in logarithmic buckets ``key = ceil(log_gamma(|x|))`` with
``gamma = (1 + a) / (1 - a)``; any quantile is returned within relative error
``a`` (default 1 %) of a value of the right rank. Counts are integers, so
merging partials from several partitions gives the same sketch in any order.
Memory is bounded by ``max_buckets`` per sign: beyond it the smallest-magnitude
buckets are folded into one (the rule depends only on the largest key, so the
result is still order-independent); accuracy is then kept for the upper
quantiles, the ones a wait-time rule watches.

Examples
--------
>>> a, b = QuantileSketch(), QuantileSketch()
>>> for v in range(1, 501):
...     a.add(float(v))
>>> for v in range(501, 1001):
...     b.add(float(v))
>>> merged = QuantileSketch.merged([b, a])
>>> merged.count, abs(merged.quantile(0.9) - 900) / 900 < 0.01
(1000, True)
>>> QuantileSketch.from_bytes(merged.to_bytes()) == merged
True

References
----------
Masson, C., Rim, J. E., & Lee, H. K. (2019). DDSketch: A fast and fully-mergeable
quantile sketch with relative-error guarantees. *PVLDB* 12(12), 2195-2205.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from typing import Final

from thresholds._validate import finite_float

__all__ = ["QuantileSketch"]

_MIN_INDEXABLE = 1e-9
_HEADER = struct.Struct("<4sdIqqdd")
_PAIR = struct.Struct("<iq")
_MAGIC = b"QSK1"


#: The slots, which unpickling copies over (a constant: mypyc, ``make install-compiled``,
#: cannot compile reading ``__slots__`` through the class).
_SKETCH_FIELDS: Final = (
    "_gamma_log",
    "_neg",
    "_pos",
    "count",
    "max",
    "max_buckets",
    "min",
    "relative_accuracy",
    "zero_count",
)


class QuantileSketch:
    """Quantiles of a window's values in bounded memory.

    Parameters
    ----------
    relative_accuracy
        Target relative error ``a`` of any quantile (0 < a < 1).
    max_buckets
        Most buckets kept per sign (memory bound: about 12 bytes per bucket
        serialised).
    """

    __slots__ = _SKETCH_FIELDS

    def __init__(self, relative_accuracy: float = 0.01, max_buckets: int = 2048) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            msg = f"relative_accuracy must be in (0, 1), got {relative_accuracy!r}"
            raise ValueError(msg)
        if max_buckets < 1:
            msg = f"max_buckets must be >= 1, got {max_buckets!r}"
            raise ValueError(msg)
        self.relative_accuracy = relative_accuracy
        self.max_buckets = max_buckets
        self._gamma_log = math.log((1 + relative_accuracy) / (1 - relative_accuracy))
        self._pos: dict[int, int] = {}
        self._neg: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    def _key(self, magnitude: float) -> int:
        return math.ceil(math.log(magnitude) / self._gamma_log)

    def _value(self, key: int) -> float:
        gamma = math.exp(self._gamma_log)
        return 2.0 * math.exp(key * self._gamma_log) / (gamma + 1.0)

    def add(self, value: float, weight: int = 1) -> None:
        """Count ``value`` ``weight`` times."""
        x = finite_float("value", value)
        if weight < 1:
            msg = f"weight must be an int >= 1, got {weight!r}"
            raise ValueError(msg)
        if abs(x) < _MIN_INDEXABLE:
            self.zero_count += weight
        else:
            store = self._pos if x > 0 else self._neg
            key = self._key(abs(x))
            store[key] = store.get(key, 0) + weight
            self._collapse(store)
        self.count += weight
        self.min = min(self.min, x)
        self.max = max(self.max, x)

    def _collapse(self, store: dict[int, int]) -> None:
        if len(store) <= self.max_buckets:
            return
        floor = max(store) - self.max_buckets + 1
        low = [k for k in store if k < floor]
        folded = sum(store.pop(k) for k in low)
        store[floor] = store.get(floor, 0) + folded

    def merge(self, other: QuantileSketch) -> None:
        """Add ``other``'s counts to this sketch (same accuracy and bucket limit)."""
        if (other.relative_accuracy, other.max_buckets) != (
            self.relative_accuracy,
            self.max_buckets,
        ):
            msg = "cannot merge sketches with different relative_accuracy or max_buckets"
            raise ValueError(msg)
        for mine, theirs in ((self._pos, other._pos), (self._neg, other._neg)):
            for key, c in theirs.items():
                mine[key] = mine.get(key, 0) + c
            self._collapse(mine)
        self.zero_count += other.zero_count
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @classmethod
    def merged(cls, sketches: Iterable[QuantileSketch]) -> QuantileSketch:
        """Return one sketch holding all of ``sketches`` (order does not matter)."""
        items = list(sketches)
        out = cls(items[0].relative_accuracy, items[0].max_buckets) if items else cls()
        for s in items:
            out.merge(s)
        return out

    def quantile(self, q: float) -> float:
        """Return the ``q``-quantile (0 <= q <= 1); 0.0 for an empty sketch."""
        if not 0.0 <= q <= 1.0:
            msg = f"q must be in [0, 1], got {q!r}"
            raise ValueError(msg)
        if self.count == 0:
            return 0.0
        rank = q * (self.count - 1)
        seen = 0
        for key in sorted(self._neg, reverse=True):
            seen += self._neg[key]
            if seen > rank:
                return max(-self._value(key), self.min)
        seen += self.zero_count
        if seen > rank:
            return 0.0
        for key in sorted(self._pos):
            seen += self._pos[key]
            if seen > rank:
                return min(self._value(key), self.max)
        return self.max

    def log1p_moments(self) -> tuple[float, float]:
        """Return the mean and the variance of ``sign(x) log1p(|x|)`` over the counted
        values, each value taken at its bucket's centre (within ``log1p`` of the relative
        accuracy: about 0.01 at the default), the variance with ``count - 1`` degrees
        of freedom (0.0 below two values).

        >>> s = QuantileSketch()
        >>> for v in (10.0, 100.0, 1000.0):
        ...     s.add(v)
        >>> [round(m, 2) for m in s.log1p_moments()]
        [4.65, 5.08]
        """
        if self.count == 0:
            return 0.0, 0.0
        total = 0.0
        square = 0.0
        for sign, store in ((1.0, self._pos), (-1.0, self._neg)):
            for key, c in store.items():
                y = sign * math.log1p(self._value(key))
                total += c * y
                square += c * y * y
        mean = total / self.count
        if self.count < 2:
            return mean, 0.0
        var = max(square - self.count * mean * mean, 0.0) / (self.count - 1)
        return mean, var

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def to_bytes(self) -> bytes:
        """Encode deterministically (buckets sorted by key)."""
        head = _HEADER.pack(
            _MAGIC,
            self.relative_accuracy,
            self.max_buckets,
            self.count,
            self.zero_count,
            self.min,
            self.max,
        )
        parts = [head, struct.pack("<II", len(self._pos), len(self._neg))]
        parts += [_PAIR.pack(k, self._pos[k]) for k in sorted(self._pos)]
        parts += [_PAIR.pack(k, self._neg[k]) for k in sorted(self._neg)]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantileSketch:
        """Decode :meth:`to_bytes` output."""
        magic, acc, maxb, count, zeros, lo, hi = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC:
            msg = "not a quantile sketch"
            raise ValueError(msg)
        out = cls(acc, maxb)
        out.count, out.zero_count, out.min, out.max = count, zeros, lo, hi
        off = _HEADER.size
        npos, nneg = struct.unpack_from("<II", data, off)
        off += 8
        for store, k in ((out._pos, npos), (out._neg, nneg)):
            for _ in range(k):
                key, c = _PAIR.unpack_from(data, off)
                store[key] = c
                off += _PAIR.size
        return out

    def to_json(self) -> str:
        """Encode as JSON (min/max null when empty)."""
        empty = self.count == 0
        return json.dumps(
            {
                "relative_accuracy": self.relative_accuracy,
                "max_buckets": self.max_buckets,
                "count": self.count,
                "zero_count": self.zero_count,
                "min": None if empty else self.min,
                "max": None if empty else self.max,
                "pos": [[k, self._pos[k]] for k in sorted(self._pos)],
                "neg": [[k, self._neg[k]] for k in sorted(self._neg)],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> QuantileSketch:
        """Decode :meth:`to_json` output."""
        d = json.loads(text)
        out = cls(d["relative_accuracy"], d["max_buckets"])
        out.count, out.zero_count = d["count"], d["zero_count"]
        out.min = math.inf if d["min"] is None else float(d["min"])
        out.max = -math.inf if d["max"] is None else float(d["max"])
        out._pos = {int(k): int(c) for k, c in d["pos"]}
        out._neg = {int(k): int(c) for k, c in d["neg"]}
        return out

    def __getstate__(self) -> bytes:
        return self.to_bytes()

    def __setstate__(self, data: bytes) -> None:
        other = QuantileSketch.from_bytes(data)
        for name in _SKETCH_FIELDS:
            setattr(self, name, getattr(other, name))
