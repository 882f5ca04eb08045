"""Tests for streams.runtime.progress (what /health calls stalled) and its setting."""

from __future__ import annotations

import pytest

from streams.exceptions import ConfigError
from streams.runtime.config import Settings
from streams.runtime.progress import Progress


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def progress(clock: Clock) -> Progress:
    return Progress(60.0, clock=clock)


class TestProgress:
    def test_idle_source_never_stalls(self, progress: Progress, clock: Clock) -> None:
        """A source with no backlog is fine however long it consumes nothing."""
        progress.observe("intake", consumed=5, backlog=0)
        clock.now = 3_600.0
        progress.observe("intake", consumed=5, backlog=0)
        assert progress.stalled() == []

    def test_backlog_without_progress_stalls_after_timeout(
        self, progress: Progress, clock: Clock
    ) -> None:
        """A backlog with an unchanged consumed total is stalled once the timeout passed."""
        progress.observe("closer", consumed=7, backlog=0)
        clock.now = 30.0
        progress.observe("closer", consumed=7, backlog=100)
        clock.now = 59.9
        assert progress.stalled() == []
        clock.now = 60.0
        assert progress.stalled() == ["closer"]

    def test_progress_clears_a_stall(self, progress: Progress, clock: Clock) -> None:
        """Consuming anything counts as progress and ends the stall."""
        progress.observe("intake-0", consumed=0, backlog=10)
        clock.now = 61.0
        assert progress.stalled() == ["intake-0"]
        progress.observe("intake-0", consumed=1, backlog=9)
        assert progress.stalled() == []

    def test_only_stalled_sources_are_named(self, progress: Progress, clock: Clock) -> None:
        """One stuck source among moving ones is the only one named."""
        progress.observe("intake-0", consumed=0, backlog=10)
        progress.observe("intake-1", consumed=0, backlog=10)
        clock.now = 61.0
        progress.observe("intake-1", consumed=3, backlog=10)
        assert progress.stalled() == ["intake-0"]

    def test_forget(self, progress: Progress, clock: Clock) -> None:
        """A forgotten source is no longer reported."""
        progress.observe("intake", consumed=0, backlog=10)
        progress.forget("intake")
        clock.now = 100.0
        assert progress.stalled() == []
        assert progress.report() == {}

    def test_report(self, progress: Progress, clock: Clock) -> None:
        """The report gives seconds since each source advanced and its backlog."""
        progress.observe("closer", consumed=1, backlog=-3)
        clock.now = 2.5
        assert progress.report() == {"closer": {"since_progress_s": 2.5, "backlog": 0}}

    @pytest.mark.parametrize("timeout_s", [0.0, -1.0])
    def test_timeout_must_be_positive(self, timeout_s: float) -> None:
        """A non-positive timeout is refused."""
        with pytest.raises(ValueError, match="stall_timeout_s"):
            Progress(timeout_s)


class TestStallTimeoutSetting:
    def test_default_is_a_minute(self) -> None:
        """Without the variable the stall timeout is 60 s."""
        assert Settings.from_env({}).stall_timeout_ms == 60_000

    def test_reads_the_variable(self) -> None:
        """AFTERSALES_STALL_TIMEOUT_MS sets it."""
        assert Settings.from_env({"AFTERSALES_STALL_TIMEOUT_MS": "5_000"}).stall_timeout_ms == 5_000

    @pytest.mark.parametrize("value", ["0", "999", "3600001", "soon"])
    def test_bad_value_names_the_variable(self, value: str) -> None:
        """Out of range or unparsable values name the variable."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AFTERSALES_STALL_TIMEOUT_MS": value})
        assert info.value.field == "AFTERSALES_STALL_TIMEOUT_MS"
