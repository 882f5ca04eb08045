"""Shared fixtures: one embedded Kafka-protocol broker per test session."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, settings

from streams.dev.embedded_broker import EmbeddedBroker

# `make test` runs the unit tests at low priority beside the integration tests: a property
# test may wait for the CPU, so no example has a time limit (correctness is what it tests).
settings.register_profile("shared_cpu", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared_cpu")


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


@pytest.fixture(autouse=True)
def _restore_logging_config() -> Iterator[None]:
    """Undo a test's logging set-up (an in-process CLI run calls configure_logging):
    structlog's configuration, the root logger's handlers and level.

    The processor list is restored in place, not replaced (so no
    ``structlog.reset_defaults()``): loggers cached on first use hold that list, and
    ``structlog.testing.capture_logs`` only reaches them through it."""
    config = structlog.get_config()
    processors = list(config["processors"])
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    config["processors"][:] = processors
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)
