"""Logging set-up: a logger cached on first use follows a later configuration."""

from __future__ import annotations

from structlog.testing import capture_logs

from streams.logs import configure_logging, get_logger


def test_logger_cached_before_reconfiguration_is_still_captured() -> None:
    """A logger used (and so cached) under one configure_logging call still reaches
    capture_logs after a second call: the processor list is reused, not replaced."""
    log = get_logger("tests.logs")
    configure_logging("json", "CRITICAL")
    log.debug("warm_up")  # assembles and caches the logger
    configure_logging("json", "CRITICAL")
    with capture_logs() as logs:
        log.info("after_reconfiguration", n=1)
    assert [(e["event"], e["n"]) for e in logs] == [("after_reconfiguration", 1)]
