"""The replay's murmur2 is Kafka's (aiokafka's reference implementation)."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as reference
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.pipeline.murmur import murmur2


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_same_hash_as_aiokafka(key: bytes) -> None:
    """Any key, of any length (tails of 0 to 3 bytes), hashes as aiokafka's murmur2."""
    assert murmur2(key) == reference(key)
