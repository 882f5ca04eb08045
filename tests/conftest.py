"""Shared fixtures: one embedded Kafka-protocol broker per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.dev.embedded_broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A tansu broker on a free loopback port, stopped at the end of the session."""
    log_path: Path = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log_path) as running:
        yield running


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses, so tests sharing the broker never collide."""
    return f"t{uuid.uuid4().hex[:10]}."
