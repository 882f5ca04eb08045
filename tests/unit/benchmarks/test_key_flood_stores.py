"""``benchmarks/key_flood.py --stores``: the deep size it reports per store."""

from __future__ import annotations

import sys
from collections import deque

from benchmarks.key_flood import _deep_size


class _Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a, self.b = a, b


def test_counts_what_a_store_reaches_once() -> None:
    shared = "x" * 100
    store = {"k": [shared, shared], "j": _Slotted(shared, deque([1.5]))}
    expected = (
        sys.getsizeof(store)
        + sys.getsizeof("k")
        + sys.getsizeof("j")
        + sys.getsizeof(store["k"])
        + sys.getsizeof(shared)
        + sys.getsizeof(store["j"])
        + sys.getsizeof(store["j"].b)
        + sys.getsizeof(1.5)
    )
    assert _deep_size(store, set()) == expected


def test_a_numpy_array_counts_its_buffer() -> None:
    import numpy as np

    array = np.zeros(1_000)
    assert _deep_size({"a": array}, set()) >= 8_000
