"""Request signatures of the DingTalk and Feishu (Lark) custom robots.

DingTalk ("加签"): ``sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))``
with ``timestamp`` in epoch milliseconds; both are sent as URL query parameters
(``sign`` URL-encoded). Feishu: ``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
msg=b""))`` with ``timestamp`` in epoch seconds; both go into the JSON body. Each
platform refuses a timestamp more than an hour away from its clock.

References
----------
DingTalk open platform, "自定义机器人安全设置" (custom robot security settings, 加签).
Feishu open platform, "自定义机器人使用指南" (custom bot guide, 签名校验).

Examples
--------
>>> dingtalk_sign("secret", 1700000000000)
'OuzzJR5+xZ4/EYwqtNt6sMYZQMTa/HEGvc9miJe7XzY='
>>> dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=t", "secret", 1700000000000)
'https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["dingtalk_sign", "dingtalk_url", "feishu_sign"]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of ``timestamp_ms`` (base64, not yet URL-encoded)."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_url(webhook: str, secret: str, timestamp_ms: int) -> str:
    """``webhook`` with ``timestamp`` and ``sign`` added to its query (other parameters kept)."""
    parts = urlsplit(webhook)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("timestamp", "sign")
    ]
    query += [("timestamp", str(timestamp_ms)), ("sign", dingtalk_sign(secret, timestamp_ms))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature of ``timestamp_s``: the key is ``"{timestamp}\\n{secret}"``, the
    message empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")
