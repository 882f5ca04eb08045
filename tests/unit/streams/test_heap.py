"""Heap trimming after mass evictions (streams.pipeline.heap)."""

from __future__ import annotations

import pytest

from streams.pipeline import heap


def test_trims_once_enough_evictions_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evictions below the threshold only count; reaching it trims once and starts over."""
    calls: list[int] = []
    monkeypatch.setattr(heap, "_trim", lambda pad: calls.append(pad) or 1)
    monkeypatch.setattr(heap, "_pending", 0)
    heap.note_evictions(heap.TRIM_AFTER_EVICTIONS - 1)
    assert calls == []
    heap.note_evictions(1)
    assert calls == [0]
    heap.note_evictions(heap.TRIM_AFTER_EVICTIONS // 2)
    assert calls == [0]


def test_glibc_trim_is_found_on_linux() -> None:
    """On this (glibc) platform the real malloc_trim is loaded and callable."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not a glibc platform")
    trim = heap._load_trim()
    assert trim is not None
    assert trim(0) in (0, 1)
