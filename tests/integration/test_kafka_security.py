"""Kafka security end to end on the embedded broker.

tansu 0.6.0 cannot serve TLS itself (``--cert`` is accepted but the listener stays
plaintext, and ``--cert`` with ``--key`` is refused), so TLS is tested through a small
TLS-terminating proxy in front of it that requires a client certificate (mutual TLS);
tansu advertises the proxy's address, so every connection, including those after the
metadata request, goes through TLS. tansu does authenticate SASL/SCRAM with
``--authentication``, but ``tansu user create`` cannot log in to such a broker, so no
user can be provisioned: only the refusal of an unknown user is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from streams.dev.embedded_broker import find_tansu, free_port, terminate, wait_for_kafka
from streams.dev.simulator.events import Event
from streams.dev.simulator.kafka import produce_events
from streams.exceptions import TopicError
from streams.runtime.config import Settings
from streams.runtime.kafka_options import client_options
from streams.runtime.topics import TopicNames, ensure_topics
from tests.integration.test_recovery import events_ok
from tests.tls_files import TlsFiles, tls_files  # noqa: F401 - the fixture
from tests.worker_process import child_env

pytestmark = [pytest.mark.integration]

HOST = "127.0.0.1"


class TlsProxy:
    """Accept TLS (client certificate required) on ``port``; forward plaintext to ``upstream``."""

    def __init__(self, port: int, upstream: int, files: TlsFiles) -> None:
        self.port, self.upstream = port, upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
        self.context.load_cert_chain(str(files.server_cert), str(files.server_key))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.handshakes = 0

    def start(self) -> None:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, HOST, self.port, ssl=self.context), self.loop
        ).result(10)

    def stop(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65_536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _tansu(port: int, advertised: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                find_tansu(),
                "broker",
                "--listener-url",
                f"tcp://{HOST}:{port}",
                "--advertised-listener-url",
                f"tcp://{HOST}:{advertised}",
                "--storage-engine",
                "memory://tansu/",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_kafka(HOST, port)
    except Exception:
        terminate(process, group=True)
        raise
    return process


@pytest.fixture(scope="module")
def tls_bootstrap(tls_files: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of the embedded broker behind a mutual-TLS proxy."""
    inner, outer = free_port(), free_port()
    broker = _tansu(inner, outer, tmp_path_factory.mktemp("tls-broker") / "tansu.log")
    proxy = TlsProxy(outer, inner, tls_files)
    try:
        proxy.start()
        yield f"{HOST}:{outer}"
    finally:
        with contextlib.suppress(Exception):
            proxy.stop()
        terminate(broker, group=True)


def tls_env(bootstrap: str, files: TlsFiles, *, client_cert: bool = True) -> dict[str, str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CAFILE": str(files.ca),
    }
    if client_cert:
        env |= {
            "KAFKA_SSL_CERTFILE": str(files.client_cert),
            "KAFKA_SSL_KEYFILE": str(files.client_key),
        }
    return env


def order_events(count: int) -> list[Event]:
    start_ms = int(time.time() * 1000) - 3_600_000
    return [
        Event(
            ts_ms=start_ms + i * 1_000,
            topic="orders",
            key=f"O-{i}",
            value={
                "event_id": f"tls-{i}",
                "ts": start_ms + i * 1_000,
                "order_id": f"O-{i}",
                "status": "placed",
                "sku": "S-1",
                "amount": 10.0,
                "quantity": 1,
            },
        )
        for i in range(count)
    ]


class TestMutualTls:
    async def test_topics_produce_and_consume_over_mutual_tls(
        self, tls_bootstrap: str, tls_files: TlsFiles, topic_prefix: str
    ) -> None:
        """Admin, producer and consumer built from the options all work through TLS."""
        settings = Settings.from_env(
            {**tls_env(tls_bootstrap, tls_files), "AFTERSALES_TOPIC_PREFIX": topic_prefix}
        )
        await ensure_topics(settings, TopicNames.from_settings(settings))
        options = client_options(settings)
        counts = await produce_events(order_events(50), options, topic_prefix)
        assert counts == {f"{topic_prefix}orders": 50}
        consumer = AIOKafkaConsumer(
            f"{topic_prefix}orders",
            **options,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen: set[str] = set()
            for _ in range(20):
                batch = await consumer.getmany(timeout_ms=500)
                seen.update(
                    json.loads(m.value)["event_id"] for messages in batch.values() for m in messages
                )
                if len(seen) == 50:
                    break
        finally:
            await consumer.stop()
        assert len(seen) == 50

    @pytest.mark.parametrize("case", ["no client certificate", "plaintext", "wrong CA"])
    async def test_insecure_or_unverified_clients_are_refused(
        self, tls_bootstrap: str, tls_files: TlsFiles, case: str
    ) -> None:
        """Without a client certificate, in plaintext, or not trusting the broker: no start."""
        env = {
            "no client certificate": tls_env(tls_bootstrap, tls_files, client_cert=False),
            "plaintext": {"KAFKA_BOOTSTRAP_SERVERS": tls_bootstrap},
            "wrong CA": {
                **tls_env(tls_bootstrap, tls_files),
                "KAFKA_SSL_CAFILE": str(tls_files.other_ca),
            },
        }[case]
        settings = Settings.from_env(env)
        with pytest.raises(TopicError, match="cannot connect"):
            await asyncio.wait_for(ensure_topics(settings, TopicNames.from_settings(settings)), 60)

    @pytest.mark.slow
    async def test_worker_runs_and_counts_events_over_mutual_tls(
        self, tls_bootstrap: str, tls_files: TlsFiles, topic_prefix: str, tmp_path: Path
    ) -> None:
        """`aftersales worker` (Faust app, intake children, closer) runs on a TLS-only port."""
        port = free_port()
        env = {
            **os.environ,
            **tls_env(tls_bootstrap, tls_files),
            "AFTERSALES_TOPIC_PREFIX": topic_prefix,
            "AFTERSALES_APP_ID": f"{topic_prefix}app",
            "AFTERSALES_WEB_PORT": str(port),
            "AFTERSALES_WEB_HOST": HOST,
            "AFTERSALES_LOG_FORMAT": "json",
        }
        log = tmp_path / "worker.log"
        with open(log, "ab") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli.main", "worker"],
                env=child_env(env),
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            await _until(lambda: _health(port), 90, worker, log)
            settings = Settings.from_env(tls_env(tls_bootstrap, tls_files))
            await produce_events(order_events(40), client_options(settings), topic_prefix)
            await _until(lambda: _events_ok(port) >= 40, 60, worker, log)
        finally:
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGTERM)
            terminate(worker, 30)
        assert "Traceback" not in log.read_text()


class TestScram:
    async def test_unknown_user_is_refused_at_start(self, tmp_path: Path) -> None:
        """SCRAM-SHA-512 reaches tansu's authenticator; an unknown user stops the start."""
        port = free_port()
        broker = _tansu(port, port, tmp_path / "tansu.log", "--authentication")
        try:
            settings = Settings.from_env(
                {
                    "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{port}",
                    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                    "KAFKA_SASL_USERNAME": "nobody",
                    "KAFKA_SASL_PASSWORD": "not-this-one",
                }
            )
            with pytest.raises(TopicError) as info:
                await asyncio.wait_for(
                    ensure_topics(settings, TopicNames.from_settings(settings)), 60
                )
        finally:
            terminate(broker, group=True)
        assert "SCRAM-SHA-512 as 'nobody'" in str(info.value)
        assert "not-this-one" not in str(info.value)

    def test_worker_command_exits_with_one_line(self, tmp_path: Path) -> None:
        """`aftersales worker` with refused credentials exits 1: no traceback, no password."""
        port = free_port()
        broker = _tansu(port, port, tmp_path / "tansu.log", "--authentication")
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{port}",
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "KAFKA_SASL_USERNAME": "nobody",
            "KAFKA_SASL_PASSWORD": "not-this-one",
            "AFTERSALES_LOG_LEVEL": "DEBUG",
        }
        try:
            result = subprocess.run(
                [sys.executable, "-m", "streams.cli.main", "worker"],
                env=child_env(env),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            terminate(broker, group=True)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output[-3000:]
        assert "Error: cannot start: cannot connect" in output
        assert "Traceback" not in output
        assert "not-this-one" not in output


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=5) as reply:
            return bool(json.loads(reply.read())["ready"])
    except OSError:
        return False


def _events_ok(port: int) -> float:
    return events_ok(port)


async def _until(
    check: object, timeout_s: float, worker: subprocess.Popen[bytes], log: Path
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        assert worker.poll() is None, f"worker exited:\n{log.read_text()[-3000:]}"
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")
