"""Snapshots are encoded off the event loop: the loop keeps running meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from streams.runtime.offloop import snapshot_off_loop


def test_encode_runs_in_another_thread_and_the_loop_keeps_ticking() -> None:
    loop_thread = threading.get_ident()
    seen: dict[str, int] = {}

    def encode(tag: bytes, *, repeat: int) -> bytes:
        seen["thread"] = threading.get_ident()
        time.sleep(0.2)  # a slow encode
        return tag * repeat

    async def main() -> tuple[bytes, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        payload = await snapshot_off_loop(encode, b"ab", repeat=3)
        ticker.cancel()
        return payload, ticks

    payload, ticks = asyncio.run(main())
    assert payload == b"ababab"
    assert seen["thread"] != loop_thread
    assert ticks >= 5  # the loop ran while the encode slept; on the loop it would be 0


def test_an_encode_error_reaches_the_caller() -> None:
    def encode() -> bytes:
        raise ValueError("boom")

    async def main() -> None:
        await snapshot_off_loop(encode)

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(main())
