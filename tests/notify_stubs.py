"""Loopback stand-ins for the DingTalk, Feishu and WeCom APIs that check request signatures.

Each stub re-derives the vendor's signature on its own (not through
``streams.notify.signing``), answers the way the real API does (HTTP 200 with an
error code on a bad signature) and records what it accepted and refused.

- DingTalk robot: ``POST /robot/send?access_token=..&timestamp=..&sign=..``;
  ``sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))``, timestamp in ms.
- Feishu bot: ``POST /open-apis/bot/v2/hook/<token>`` with ``timestamp`` and ``sign`` in
  the JSON body; ``sign = base64(HMAC-SHA256(f"{timestamp}\\n{secret}", b""))``, seconds.
- WeCom app API (what Alertmanager's ``wechat_configs`` calls): ``GET gettoken`` then
  ``POST message/send?access_token=..``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"
#: Both platforms refuse a timestamp more than an hour from their clock.
MAX_SKEW_S = 3600


@dataclass
class StubLog:
    """What a stub accepted (JSON bodies) and refused (reasons)."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: Answer this many requests with HTTP 500 before behaving (to test retries).
    fail_first: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_accepted(self, count: int = 1, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Wait until ``count`` bodies were accepted; return them (empty list on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.accepted) >= count:
                    return list(self.accepted)
            time.sleep(0.1)
        return []


def dingtalk_expected_sign(secret: str, timestamp: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_expected_sign(secret: str, timestamp: str) -> str:
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _fresh(timestamp: str, unit: float) -> bool:
    try:
        return abs(int(timestamp) / unit - time.time()) <= MAX_SKEW_S
    except ValueError:
        return False


@dataclass
class Stub:
    """A running stub: its base URL and its log."""

    url: str
    log: StubLog


@contextmanager
def serve(handler_for: Any) -> Iterator[Stub]:
    """Run a stub built by ``handler_for(log)`` on a free loopback port."""
    log = StubLog()
    server = ThreadingHTTPServer((LOOPBACK, 0), handler_for(log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(f"http://{LOOPBACK}:{server.server_address[1]}", log)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Base(BaseHTTPRequestHandler):
    log_: StubLog

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")

    def failing(self) -> bool:
        with self.log_.lock:
            if self.log_.fail_first > 0:
                self.log_.fail_first -= 1
                return True
        return False

    def refuse(self, reason: str, status: int, body: dict[str, Any]) -> None:
        with self.log_.lock:
            self.log_.refused.append(reason)
        self.answer(status, body)

    def accept(self, body: dict[str, Any], answer: dict[str, Any]) -> None:
        with self.log_.lock:
            self.log_.accepted.append(body)
        self.answer(200, answer)

    def log_message(self, *args: object) -> None:
        pass


def dingtalk_stub(token: str, secret: str) -> Any:
    """A DingTalk custom robot with access token ``token`` and signing secret ``secret``."""

    def handler_for(log: StubLog) -> type[BaseHTTPRequestHandler]:
        class Handler(_Base):
            log_ = log

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = self.body()
                if self.failing():
                    self.answer(500, {"errcode": -1, "errmsg": "system busy"})
                elif parts.path != "/robot/send" or query.get("access_token") != token:
                    self.refuse("token", 200, {"errcode": 300001, "errmsg": "token is not exist"})
                elif not _fresh(query.get("timestamp", ""), 1000):
                    self.refuse(
                        "timestamp", 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
                    )
                elif query.get("sign") != dingtalk_expected_sign(secret, query["timestamp"]):
                    self.refuse("sign", 200, {"errcode": 310000, "errmsg": "sign not match"})
                elif not isinstance(body, dict) or body.get("msgtype") not in (
                    "markdown",
                    "actionCard",
                    "text",
                ):
                    self.refuse("body", 200, {"errcode": 40035, "errmsg": "bad msgtype"})
                else:
                    self.accept(body, {"errcode": 0, "errmsg": "ok"})

        return Handler

    return handler_for


def feishu_stub(token: str, secret: str) -> Any:
    """A Feishu custom bot at hook ``token`` with signature secret ``secret``."""

    def handler_for(log: StubLog) -> type[BaseHTTPRequestHandler]:
        class Handler(_Base):
            log_ = log

            def do_POST(self) -> None:
                body = self.body()
                bad = {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
                if self.failing():
                    self.answer(500, {"code": 9499, "msg": "busy"})
                elif self.path != f"/open-apis/bot/v2/hook/{token}":
                    self.refuse("token", 404, {"code": 19001, "msg": "param invalid"})
                elif not isinstance(body, dict) or not _fresh(str(body.get("timestamp", "")), 1):
                    self.refuse("timestamp", 200, bad)
                elif body.get("sign") != feishu_expected_sign(secret, str(body["timestamp"])):
                    self.refuse("sign", 200, bad)
                elif body.get("msg_type") != "interactive" or "card" not in body:
                    self.refuse("body", 200, {"code": 9499, "msg": "bad request"})
                else:
                    self.accept(body, {"code": 0, "msg": "success", "data": {}})

        return Handler

    return handler_for


def wecom_stub(corp_id: str, secret: str, access_token: str = "wecom-token") -> Any:
    """The WeCom app API as Alertmanager's wechat_configs uses it."""

    def handler_for(log: StubLog) -> type[BaseHTTPRequestHandler]:
        class Handler(_Base):
            log_ = log

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if (
                    parts.path.endswith("/gettoken")
                    and query.get("corpid") == corp_id
                    and query.get("corpsecret") == secret
                ):
                    self.answer(
                        200,
                        {
                            "errcode": 0,
                            "errmsg": "ok",
                            "access_token": access_token,
                            "expires_in": 7200,
                        },
                    )
                else:
                    self.refuse(
                        "corpsecret", 200, {"errcode": 40001, "errmsg": "invalid credential"}
                    )

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = self.body()
                if (
                    not parts.path.endswith("/message/send")
                    or query.get("access_token") != access_token
                ):
                    self.refuse(
                        "access_token", 200, {"errcode": 40014, "errmsg": "invalid access_token"}
                    )
                else:
                    self.accept(body, {"errcode": 0, "errmsg": "ok", "invaliduser": ""})

        return Handler

    return handler_for
