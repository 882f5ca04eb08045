"""Encode a snapshot in a worker thread so the event loop keeps running meanwhile.

A closer or input partition that holds a key flood's state takes a few tenths of a
second of CPU to encode (``benchmarks/key_flood.py``); on the event loop that stalls
heartbeats and fetches, and on a busy machine the wall time passes a second. Run in a
thread, the loop gets the interpreter lock back at every switch interval
(``sys.getswitchinterval()``, 5 ms) and between C calls, so it stalls only for the
longest single C call of the encoder (a sort or ``json.dumps``).

Why this is safe without copying: the caller awaits the encode from the task that
alone changes the encoded state (the closer loop for a closer, the intake loop for an
aggregator); rebalance callbacks that run meanwhile only read the state (a forced
snapshot) or drop the whole object from the worker's maps, and other tasks do not touch
it. The state is therefore frozen while the thread reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec

__all__ = ["snapshot_off_loop"]

P = ParamSpec("P")


async def snapshot_off_loop(encode: Callable[P, bytes], *args: P.args, **kwargs: P.kwargs) -> bytes:
    """``encode(*args, **kwargs)`` in the default executor's thread; its bytes."""
    return await asyncio.to_thread(encode, *args, **kwargs)
