"""An intake child exits 0 only when asked to stop; an intake that ends any other way
(returns, or is cancelled from inside) is a failure with exit code 1."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from typing import Any

import pytest
from structlog.testing import capture_logs

from streams.rules.catalogue import load_rules
from streams.runtime.config import Settings
from streams.runtime.intake_process import _child_run


class FakeWorker:
    """Stands in for the intake Worker (the child's runner): starts, then ends as
    ``ending`` says."""

    ending = "return"

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.started = asyncio.Event()
        self.consumed = {"intake": 0}
        self.backlog = {"intake": 0}
        self.partials_sent = 0
        self.failed = False

    async def run(self) -> None:
        self.started.set()
        await asyncio.sleep(0.3)
        if self.ending == "fail":  # like Worker.run: failed is set, then closing takes long
            self.failed = True
            await asyncio.sleep(1.0)
            raise RuntimeError("intake broke")
        if self.ending == "cancelled":
            raise asyncio.CancelledError  # e.g. an awaited future cancelled by a library
        if self.ending == "wait":
            await asyncio.sleep(60)


@pytest.fixture
def run_child() -> Any:
    async def run(ending: str) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        FakeWorker.ending = ending
        reader, writer = multiprocessing.Pipe(duplex=False)
        with capture_logs() as logs:
            code = await _child_run(Settings(), load_rules(None), False, FakeWorker, writer)
        messages = []
        while reader.poll():
            messages.append(reader.recv())
        assert {"started": True} in messages
        return code, logs, messages

    return run


class TestChildExit:
    async def test_returning_without_a_stop_request_fails(self, run_child: Any) -> None:
        """An intake that returns by itself exits 1 with a clear log line."""
        code, logs, _ = await run_child("return")
        assert code == 1
        assert [e["reason"] for e in logs if e["event"] == "intake_process_failed"] == [
            "intake returned without a stop request"
        ]

    async def test_cancelled_from_inside_fails(self, run_child: Any) -> None:
        """A cancellation nobody asked for is not mistaken for a clean stop."""
        code, logs, _ = await run_child("cancelled")
        assert code == 1
        assert any(e["event"] == "intake_process_failed" for e in logs)

    async def test_sigterm_is_a_clean_stop(self, run_child: Any) -> None:
        """SIGTERM (what the parent sends) stops the intake with exit code 0."""
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, os.kill, os.getpid(), signal.SIGTERM)
        code, logs, _ = await run_child("wait")
        assert code == 0
        assert not any(e["event"] == "intake_process_failed" for e in logs)

    async def test_failure_is_reported_before_closing(self, run_child: Any) -> None:
        """A failed intake says so at once (the parent need not wait for its close)."""
        code, _, messages = await run_child("fail")
        assert code == 1
        assert messages[-1] == {"failed": True}
