"""Where alert events go: a tiny sink contract and its implementations.

Contract (shaped like quix-streams' ``BaseSink``):

* ``await start()`` once before use; ``await stop()`` once at the end (it
  flushes first).
* ``add(event)`` is synchronous and cheap: it buffers, or hands the event on at
  once when that cannot block (console, memory).
* ``await flush()`` makes every added event durable or delivered. Call it before
  committing the input offsets that produced the events; on failure it raises
  :class:`~alerts.exceptions.SinkError` and keeps the undelivered events, so the
  next ``flush()`` retries them (at-least-once).

``flush``/``start``/``stop`` are coroutines because the Kafka producer is; the
in-memory and file sinks simply don't await anything. Injected resources (the
producer, the writer) are not started or closed by the sinks.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol

from alerts.exceptions import SinkError
from alerts.model import AlertEvent
from alerts.text import AlertTexts

__all__ = [
    "DEFAULT_ALERTS_TOPIC",
    "AlertProducer",
    "AlertSink",
    "ConsoleSink",
    "FanOutSink",
    "JsonlSink",
    "ListSink",
    "TopicSink",
    "format_console_line",
]

DEFAULT_ALERTS_TOPIC: Final = "aftersales.alerts"


class AlertSink(abc.ABC):
    """Base class of every sink; see the module docstring for the contract."""

    _started: bool = False

    async def start(self) -> None:
        """Acquire resources; call once before :meth:`add`."""
        self._started = True

    @abc.abstractmethod
    def add(self, event: AlertEvent) -> None:
        """Accept one event (buffer it or deliver it at once)."""

    async def flush(self) -> None:  # noqa: B027 - optional hook
        """Deliver everything added so far."""

    async def stop(self) -> None:
        """Flush, then release resources."""
        await self.flush()
        self._started = False

    def _require_started(self) -> None:
        if not self._started:
            raise SinkError(f"{type(self).__name__} used before start() or after stop()")


class ListSink(AlertSink):
    """Keeps every event in memory, in order: for tests and ``replay`` (start is optional)."""

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def add(self, event: AlertEvent) -> None:
        """Append ``event`` to :attr:`events`."""
        self.events.append(event)


class JsonlSink(AlertSink):
    """Writes one ``AlertEvent.to_json()`` line per event to a file.

    ``mode="w"`` truncates at start (``replay --out``); ``"a"`` appends.
    """

    def __init__(self, path: str | Path, *, mode: Literal["w", "a"] = "w") -> None:
        self.path = Path(path)
        self._mode = mode
        self._file: IO[bytes] | None = None
        self._buffer: list[AlertEvent] = []

    async def start(self) -> None:
        """Open the file."""
        self._file = self.path.open(self._mode + "b")
        self._started = True

    def add(self, event: AlertEvent) -> None:
        """Buffer ``event`` until the next flush."""
        self._require_started()
        self._buffer.append(event)

    async def flush(self) -> None:
        """Write buffered lines and flush the file."""
        if self._file is None:
            return
        try:
            self._file.write(b"".join(e.to_json() + b"\n" for e in self._buffer))
            self._file.flush()
        except OSError as exc:
            raise SinkError(f"cannot write alerts to {self.path}: {exc}") from exc
        self._buffer.clear()

    async def stop(self) -> None:
        """Flush and close the file."""
        await super().stop()
        if self._file is not None:
            self._file.close()
            self._file = None


class AlertProducer(Protocol):
    """The part of ``aiokafka.AIOKafkaProducer`` that :class:`TopicSink` uses."""

    def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> Awaitable[Any]:
        """Send one record and wait until the broker acknowledged it."""
        ...


class TopicSink(AlertSink):
    """Sends events to the alerts topic, keyed ``rule:dimension:key``.

    Records are sent in order at :meth:`flush`, each awaited, so per-series
    order holds and a failure leaves the unsent remainder buffered. The
    producer is injected and owned by the caller (start/stop it yourself).
    """

    def __init__(self, producer: AlertProducer, topic: str = DEFAULT_ALERTS_TOPIC) -> None:
        self.producer = producer
        self.topic = topic
        self._buffer: list[AlertEvent] = []

    def add(self, event: AlertEvent) -> None:
        """Buffer ``event`` until the next flush."""
        self._require_started()
        self._buffer.append(event)

    async def flush(self) -> None:
        """Send buffered events in order; keep the rest on failure."""
        while self._buffer:
            event = self._buffer[0]
            try:
                await self.producer.send_and_wait(
                    self.topic, value=event.to_json(), key=event.kafka_key.encode("utf-8")
                )
            except Exception as exc:
                raise SinkError(
                    f"cannot send alert {event.alert_id} to {self.topic}: {exc}"
                ) from exc
            self._buffer.pop(0)

    @property
    def pending(self) -> int:
        """Events added but not yet acknowledged."""
        return len(self._buffer)


_COLOURS: Final = {
    "critical": "\x1b[1;31m",
    "warning": "\x1b[33m",
    "info": "\x1b[36m",
    "resolved": "\x1b[32m",
}
_RESET: Final = "\x1b[0m"


def format_console_line(
    event: AlertEvent,
    texts: AlertTexts | None = None,
    *,
    colour: bool = False,
    utc_offset_ms: int = 0,
) -> str:
    """One readable line in the texts' locale: time (in the shop's UTC offset), status,
    severity, rule, where, observed vs normal and band."""
    texts = texts or AlertTexts()
    words = texts.catalogue

    def fmt(value: float | None) -> str:
        return texts.format_value(value, event.rule)

    def padded(group: str, value: str, names: tuple[str, ...]) -> str:
        width = max(len(words.label(group, name)) for name in names)
        return words.label(group, value).ljust(width)

    line = words.text(
        "console.line",
        time=words.time(event.window_end, utc_offset_ms),
        status=padded("status", event.status, ("firing", "resolved")),
        severity=padded("severity", event.severity, ("info", "warning", "critical")),
        rule=event.rule,
        where=f"{texts.dimension(event.dimension)}={event.key}",
        observed=fmt(event.observed),
        baseline=fmt(event.baseline),
        lower=fmt(event.lower),
        upper=fmt(event.upper),
        score=f"{event.score:.2f}",
        # Firing inside the band (score 0): the episode fired on sequential evidence.
        sustained=(
            words.text("console.sustained")
            if event.status == "firing" and event.score == 0.0
            else ""
        ),
        alert_id=event.alert_id,
    )
    if colour:
        tint = _COLOURS["resolved" if event.status == "resolved" else event.severity]
        line = f"{tint}{line}{_RESET}"
    return line


class ConsoleSink(AlertSink):
    """Writes one readable line per event through ``write`` (start is optional).

    Library code never prints: the demo passes e.g. ``click.echo`` or
    ``sys.stdout.write``-with-newline as ``write``.
    """

    def __init__(
        self,
        write: Callable[[str], object],
        *,
        texts: AlertTexts | None = None,
        colour: bool = False,
        utc_offset_ms: int = 0,
    ) -> None:
        self._write = write
        self._texts = texts or AlertTexts()
        self._colour = colour
        self._utc_offset_ms = utc_offset_ms

    def add(self, event: AlertEvent) -> None:
        """Write ``event``'s line at once."""
        self._write(
            format_console_line(
                event, self._texts, colour=self._colour, utc_offset_ms=self._utc_offset_ms
            )
        )


class FanOutSink(AlertSink):
    """Passes every call on to several sinks, in the given order."""

    def __init__(self, sinks: Iterable[AlertSink]) -> None:
        self.sinks = tuple(sinks)

    async def start(self) -> None:
        """Start every sink."""
        for sink in self.sinks:
            await sink.start()
        self._started = True

    def add(self, event: AlertEvent) -> None:
        """Add ``event`` to every sink."""
        for sink in self.sinks:
            sink.add(event)

    async def flush(self) -> None:
        """Flush every sink (all are tried; the first failure is raised)."""
        first: SinkError | None = None
        for sink in self.sinks:
            try:
                await sink.flush()
            except SinkError as exc:
                first = first or exc
        if first is not None:
            raise first

    async def stop(self) -> None:
        """Stop every sink."""
        for sink in self.sinks:
            await sink.stop()
        self._started = False
