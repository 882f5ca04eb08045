"""Test doubles shipped with the package (like httpx's ``MockTransport``).

Examples
--------
>>> import asyncio
>>> producer = FakeProducer()
>>> asyncio.run(producer.send_and_wait("aftersales.alerts", value=b"{}", key=b"r:d:k"))
>>> producer.sent
[SentRecord(topic='aftersales.alerts', key=b'r:d:k', value=b'{}')]
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["FakeProducer", "SentRecord"]


class SentRecord(NamedTuple):
    """One record the fake producer accepted."""

    topic: str
    key: bytes | None
    value: bytes | None


class FakeProducer:
    """An aiokafka-like producer that records what was sent.

    ``fail_after`` makes it raise ``ConnectionError`` once that many records
    were accepted (``None``: never), to exercise retry paths.
    """

    def __init__(self, *, fail_after: int | None = None) -> None:
        self.sent: list[SentRecord] = []
        self.fail_after = fail_after

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> None:
        """Record one send, or fail when :attr:`fail_after` records were sent."""
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("FakeProducer: broker unavailable")
        self.sent.append(SentRecord(topic, key, value))
