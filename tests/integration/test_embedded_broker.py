"""The embedded tansu broker: starts, answers Kafka clients, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.dev.embedded_broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


class TestEmbeddedBroker:
    async def test_round_trip(self, broker: EmbeddedBroker) -> None:
        """A record produced to the broker is consumed back."""
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait("roundtrip", b"hello", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "roundtrip", bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await consumer.getone()
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"k", b"hello")

    def test_stop_leaves_no_process(self) -> None:
        """Leaving the context stops the broker process."""
        with EmbeddedBroker() as running:
            pid = running.pid
            assert pid is not None and alive(pid)
        assert not alive(pid)

    def test_stop_on_exception(self) -> None:
        """An exception inside the context still stops the broker."""
        pid = None
        with pytest.raises(RuntimeError), EmbeddedBroker() as running:
            pid = running.pid
            raise RuntimeError("test failed")
        assert pid is not None and not alive(pid)

    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
    def test_no_orphan_when_owner_dies(self, sig: signal.Signals) -> None:
        """A broker whose owning process is interrupted or killed does not outlive it."""
        code = textwrap.dedent("""
            import signal, sys, time
            from streams.dev.embedded_broker import EmbeddedBroker
            # A test run started in the background of a non-interactive shell inherits
            # SIGINT ignored (POSIX), and Python then installs no KeyboardInterrupt handler:
            # the owner would never see the signal this test sends.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            with EmbeddedBroker() as b:
                print("PID", b.pid, flush=True)
                time.sleep(60)
        """)
        owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert owner.stdout is not None
        line = owner.stdout.readline()
        while not line.startswith("PID"):
            line = owner.stdout.readline()
        pid = int(line.split()[1])
        assert alive(pid)
        owner.send_signal(sig)
        owner.wait(10)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid)
