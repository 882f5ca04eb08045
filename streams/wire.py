"""Records on the internal partials topic: sealed partials, per-event verdicts, watermarks.

JSON, one object per record, tagged by ``t``: ``p`` (partial), ``e`` (per-event
verdict), ``w`` (a source's watermark, sent to every partition). ``replay``
round-trips its partials through the same encoding, so the closer sees the
same bytes whether they crossed Kafka or not.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from streams.aggregate import EventAlert, Partial, SealedPartial
from thresholds.decision import Decision

__all__ = ["Watermark", "decode", "encode_event_alert", "encode_partial", "encode_watermark"]


class Watermark(tuple[str, int]):
    """``(source, watermark_ms)``."""

    __slots__ = ()

    @property
    def source(self) -> str:
        return self[0]

    @property
    def watermark_ms(self) -> int:
        return self[1]


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def encode_partial(sealed: SealedPartial) -> bytes:
    """Encode a sealed partial."""
    return _dumps({"t": "p", "src": sealed.source, "r": sealed.rule, "dm": sealed.dimension,
                   "k": sealed.key, "ws": sealed.window_start_ms, "we": sealed.window_end_ms,
                   "p": sealed.partial.to_dict()})


def encode_event_alert(verdict: EventAlert) -> bytes:
    """Encode a per-event verdict."""
    return _dumps({"t": "e", "src": verdict.source, "r": verdict.rule, "dm": verdict.dimension,
                   "k": verdict.key, "ts": verdict.ts_ms, "d": asdict(verdict.decision),
                   "c": verdict.context})


def encode_watermark(source: str, watermark_ms: int) -> bytes:
    """Encode a source's watermark."""
    return _dumps({"t": "w", "src": source, "wm": watermark_ms})


def decode(raw: bytes) -> SealedPartial | EventAlert | Watermark:
    """Decode any record of the partials topic."""
    obj = json.loads(raw)
    tag = obj["t"]
    if tag == "p":
        return SealedPartial(obj["src"], obj["r"], obj["dm"], obj["k"], obj["ws"], obj["we"],
                             Partial.from_dict(obj["p"]))
    if tag == "e":
        return EventAlert(obj["src"], obj["r"], obj["dm"], obj["k"], obj["ts"],
                          Decision(**obj["d"]), obj["c"])
    if tag == "w":
        return Watermark((obj["src"], obj["wm"]))
    raise ValueError(f"unknown partials record type {tag!r}")
