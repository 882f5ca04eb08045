"""Events encoded once for Kafka: the same bytes and the same partition as a plain send."""

from __future__ import annotations

import json

from aiokafka.partitioner import DefaultPartitioner

from streams.dev.simulator.events import Event
from streams.dev.simulator.kafka import encode_event


def test_encoded_event_lands_where_the_default_partitioner_puts_its_key() -> None:
    partitioner = DefaultPartitioner()
    for i in range(200):
        event = Event(1_000 + i, "orders", f"o-{i}-é", {"order_id": f"o-{i}-é", "n": i})
        encoded = encode_event(event)
        key = event.key.encode()
        assert encoded.key == key
        for count in (1, 3, 4, 12):
            ids = list(range(count))
            assert ids[encoded.key_hash % count] == partitioner(key, ids, ids)


def test_encoded_value_is_the_compact_utf8_json_of_the_event() -> None:
    event = Event(5, "complaints", "c-1", {"complaint_id": "c-1", "text": "破损", "x": 1.5})
    encoded = encode_event(event)
    assert (encoded.ts_ms, encoded.topic) == (5, "complaints")
    assert json.loads(encoded.value) == event.value
    assert "破损".encode() in encoded.value
    assert b" " not in encoded.value
