"""Kafka's default partitioner hash (murmur2), as ``replay`` needs it per record.

The same function as ``aiokafka.partitioner.murmur2`` (the Java client's
``Utils.murmur2``, Austin Appleby's MurmurHash2 with seed ``0x9747b28c``), reading
the body four bytes at a time with ``struct`` instead of byte by byte: about three
times faster, and ``replay`` hashes every record's key.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["murmur2"]

_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF
_WORDS = struct.Struct("<I").iter_unpack


def murmur2(data: bytes) -> int:
    """MurmurHash2 of ``data`` as Kafka computes it (unsigned 32 bits).

    >>> murmur2(b"O-000245259") == __import__("aiokafka.partitioner").partitioner.murmur2(
    ...     b"O-000245259"
    ... )
    True
    """
    length = len(data)
    h = 0x9747B28C ^ length
    body = length & ~3
    for (word,) in _WORDS(data[:body]):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    if length & 3:
        h ^= int.from_bytes(data[body:], "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)
