"""The notify bridge: an HTTP service that receives Alertmanager webhooks and forwards
each notification to a DingTalk robot (``POST /dingtalk``) or a Feishu bot
(``POST /feishu``), signed.

A body that is not an Alertmanager notification gets ``400`` with the reason. A
delivery that fails (network error, HTTP error, or the platform's ``errcode``/``code``
not 0) is retried ``bridge_retries`` times with 1 s, 2 s, 4 s ... back-off, each failure
logged; if it still fails the bridge answers ``502`` so Alertmanager retries the
notification later (nothing is dropped in silence). Webhook URLs and secrets are never
logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import web

from alerts.locales import catalogue
from streams.exceptions import ConfigError
from streams.logs import get_logger
from streams.notify.messages import MessageStyle, dingtalk_message, feishu_card
from streams.notify.payload import MAX_BODY_BYTES, Notification, PayloadError, parse_notification
from streams.notify.signing import dingtalk_url, feishu_sign
from streams.runtime.config import Settings, env_name

__all__ = ["Target", "build_app", "build_targets", "deliver", "run_bridge"]

log = get_logger("aftersales.notify")

Clock = Callable[[], float]
#: First back-off between delivery attempts; it doubles after each failure.
BACKOFF_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Target:
    """One chat platform: where to post and how to sign and judge the answer."""

    name: str
    webhook: str
    secret: str

    def request(
        self, note: Notification, style: MessageStyle, now: float
    ) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body of one (signed) delivery attempt at time ``now``."""
        if self.name == "dingtalk":
            url = (
                dingtalk_url(self.webhook, self.secret, int(now * 1000))
                if self.secret
                else self.webhook
            )
            return url, dingtalk_message(note, style)
        body = feishu_card(note, style)
        if self.secret:
            stamp = int(now)
            body = {"timestamp": str(stamp), "sign": feishu_sign(self.secret, stamp), **body}
        return self.webhook, body

    def problem(self, status: int, answer: Any) -> str | None:
        """Why the platform refused the message, or ``None`` if it took it."""
        if status != 200:
            return f"HTTP {status}"
        if not isinstance(answer, dict):
            return "answer is not a JSON object"
        # DingTalk: {"errcode": 0, "errmsg": "ok"}; Feishu: {"code": 0, "msg": "success"}
        # (older Feishu answers: {"StatusCode": 0}).
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode")))
        if code == 0:
            return None
        message = answer.get("errmsg", answer.get("msg", answer.get("StatusMessage", "")))
        return f"code {code}: {message}"


def build_targets(settings: Settings) -> dict[str, Target]:
    """The configured platforms; refuse a configuration that can deliver nothing."""
    targets: dict[str, Target] = {}
    for name in ("dingtalk", "feishu"):
        webhook, secret = getattr(settings, f"{name}_webhook"), getattr(settings, f"{name}_secret")
        if secret and not webhook:
            raise ConfigError(
                env_name(f"{name}_webhook"), f"required with {env_name(f'{name}_secret')}"
            )
        if webhook:
            targets[name] = Target(name, webhook, secret)
    if not targets:
        raise ConfigError(
            env_name("dingtalk_webhook"),
            "notify-bridge needs AFTERSALES_DINGTALK_WEBHOOK or "
            "AFTERSALES_FEISHU_WEBHOOK (or both)",
        )
    return targets


async def deliver(
    session: aiohttp.ClientSession,
    target: Target,
    note: Notification,
    style: MessageStyle,
    *,
    retries: int,
    timeout_s: float,
    backoff_s: float = BACKOFF_S,
    clock: Clock = time.time,
) -> str | None:
    """Post ``note`` to ``target``, retrying; ``None`` when delivered, else the last problem."""
    problem = ""
    for attempt in range(1, retries + 2):
        url, body = target.request(note, style, clock())
        try:
            async with session.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                answer = await response.json(content_type=None)
                found = target.problem(response.status, answer)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            found = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if found is None:
            log.info(
                "notification_sent",
                target=target.name,
                alerts=len(note.alerts),
                status=note.status,
                attempt=attempt,
            )
            return None
        problem = found
        log.warning(
            "notification_attempt_failed",
            target=target.name,
            attempt=attempt,
            attempts=retries + 1,
            problem=problem,
        )
        if attempt <= retries:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    log.error(
        "notification_not_delivered", target=target.name, alerts=len(note.alerts), problem=problem
    )
    return problem


def build_app(
    settings: Settings,
    targets: Mapping[str, Target],
    *,
    utc_offset_ms: int = 0,
    backoff_s: float = BACKOFF_S,
) -> web.Application:
    """The aiohttp application: ``POST /dingtalk``, ``POST /feishu``, ``GET /health``."""
    style = MessageStyle(catalogue(settings.locale), utc_offset_ms, settings.grafana_url)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session_context(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            app[session_key] = session
            yield

    async def forward(request: web.Request) -> web.Response:
        name = request.match_info["target"]
        target = targets.get(name)
        if target is None:
            return web.json_response(
                {"error": f"{name} is not configured; configured: {', '.join(sorted(targets))}"},
                status=404,
            )
        try:
            note = parse_notification(await request.read())
        except PayloadError as exc:
            log.warning("notification_refused", target=name, field=exc.field, reason=str(exc))
            return web.json_response(
                {"error": f"not an Alertmanager notification: {exc}"}, status=400
            )
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(
                {"error": f"body larger than {MAX_BODY_BYTES} bytes"}, status=413
            )
        problem = await deliver(
            request.app[session_key],
            target,
            note,
            style,
            retries=settings.bridge_retries,
            timeout_s=settings.bridge_timeout_ms / 1000,
            backoff_s=backoff_s,
        )
        if problem is not None:
            return web.json_response(
                {
                    "error": f"{name} refused or unreachable after "
                    f"{settings.bridge_retries + 1} attempts: {problem}"
                },
                status=502,
            )
        return web.json_response({"status": "sent", "alerts": len(note.alerts)})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "targets": sorted(targets)})

    app.cleanup_ctx.append(session_context)
    app.router.add_post("/{target:dingtalk|feishu}", forward)
    app.router.add_get("/health", health)
    return app


def run_bridge(settings: Settings, utc_offset_ms: int = 0) -> None:
    """Validate the targets and serve until interrupted."""
    targets = build_targets(settings)
    for target in targets.values():
        if not target.secret:
            log.warning(
                "notify_target_unsigned",
                target=target.name,
                hint=f"set {env_name(f'{target.name}_secret')} (the robot's signing "
                "secret) unless the robot uses another security setting",
            )
    app = build_app(settings, targets, utc_offset_ms=utc_offset_ms)
    log.info(
        "notify_bridge_listening",
        host=settings.bridge_host,
        port=settings.bridge_port,
        targets=sorted(targets),
        locale=settings.locale,
    )
    web.run_app(
        app, host=settings.bridge_host, port=settings.bridge_port, print=None, access_log=None
    )
