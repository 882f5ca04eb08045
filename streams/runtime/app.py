"""The Faust application that hosts the worker.

Faust provides the service tree (start, supervised tasks, clean stop on SIGINT
and SIGTERM), the web server that serves ``/metrics`` and ``/health``, and the
group-membership settings that make a fresh worker ready in seconds on the
embedded broker. The pipeline itself runs as one app task (see
:mod:`streams.runtime.worker` for why its hot loops use aiokafka directly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.logs import configure_logging
from streams.runtime.config import Settings
from streams.runtime.kafka_options import faust_broker_urls, faust_credentials
from streams.runtime.worker import Worker

__all__ = ["HostWorker", "create_app"]


def create_app(
    settings: Settings, worker: Worker, registry: CollectorRegistry, *, datadir: str | None = None
) -> faust.App:
    """A Faust app running ``worker`` and serving its metrics.

    ``datadir`` is where Faust keeps its (empty, ``memory://``) data directory; by
    default ``<app id>-host-data`` in the working directory (the demo passes a
    temporary one).
    """
    extra: dict[str, Any] = {} if datadir is None else {"datadir": datadir}
    app = faust.App(
        f"{settings.app_id}-host",
        broker=faust_broker_urls(settings),
        broker_credentials=faust_credentials(settings),
        autodiscover=False,
        web_enabled=True,
        web_port=settings.web_port,
        web_host=settings.web_host,
        # Faust binds web_bind (default 0.0.0.0: every interface), not web_host.
        web_bind=settings.web_host,
        web_in_thread=False,
        topic_partitions=settings.topic_partitions,
        # Faust's own (one-partition, data-less) leader topic; its default is 1 replica.
        topic_replication_factor=max(settings.topic_replication_factor, 1),
        # Fast group membership: docs/architecture.md, broker notes (tansu answers JoinGroup after
        # session_timeout / 2; 6 s is also Kafka's lowest default-allowed session timeout).
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        broker_rebalance_timeout=settings.session_timeout_ms / 1000,
        store="memory://",
        **extra,
    )

    # faust types page handlers with its abstract web Request/Response; its aiohttp driver
    # passes aiohttp's Request and sends aiohttp's Response as is.
    @app.page("/metrics")  # type: ignore[arg-type]
    async def metrics(_view: Any, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    @app.page("/health")  # type: ignore[arg-type]  # as /metrics
    async def health(_view: Any, _request: web.Request) -> web.Response:
        # Ready means started, not failed, and no consumer with a backlog stuck for
        # AFTERSALES_STALL_TIMEOUT_MS (a connected worker that moves nothing is not ready).
        stalled = worker.progress.stalled()
        ready = worker.started.is_set() and not worker.failed and not stalled
        return web.json_response(
            {
                "ready": ready,
                "failed": worker.failed,
                "stalled": stalled,
                "progress": worker.progress.report(),
            },
            status=200 if ready else 503,
        )

    async def pipeline() -> None:
        try:
            await worker.run()
        except Exception as exc:  # noqa: BLE001 - any failure must crash the worker
            # Crash the whole worker (non-zero exit) so a supervisor restarts it; the
            # snapshots make the restart continue where this one stopped.
            await app.crash(exc)

    # A call, not a decorator: faust types App.task's result loosely (an untyped decorator).
    app.task(pipeline)
    return app


class HostWorker(faust.Worker):
    """Faust's worker with our structlog set-up instead of its own logging."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        on_started: Callable[[], None] | None = None,
        on_logging: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            app, quiet=True, redirect_stdouts=False, loglevel=settings.log_level, **kwargs
        )
        # Faust's start-up spinner writes cursor escape codes even when the output is
        # piped (faust/utils/terminal/spinners.py, ``finish``): no spinner at all.
        self.spinner = None
        self._settings = settings
        self._on_started = on_started
        self._on_logging = on_logging

    def _setup_logging(self) -> None:
        configure_logging(self._settings.log_format, self._settings.log_level)
        if self._on_logging is not None:
            self._on_logging()

    def _setup_spinner(self) -> None:
        self.spinner = None

    async def on_started(self) -> None:
        """Faust's start-up hook: also call ``on_started`` (the demo's first output)."""
        await super().on_started()
        if self._on_started is not None:
            self._on_started()
