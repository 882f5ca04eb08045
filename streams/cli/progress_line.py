"""A one-line progress display for long commands (``simulate``, ``replay``) on a terminal.

The line shows events so far, the rate, and when the fraction done is known, the
percentage and an ETA (remaining = elapsed x (1 - done) / done). It is redrawn in
place with a carriage return at most every ``interval_s``, only when the stream is
a terminal: piped or redirected output gets nothing, so logs and files stay clean.

Examples
--------
>>> import io
>>> ticks = iter([0.0, 0.0, 2.0, 4.0]).__next__
>>> out = io.StringIO()
>>> line = ProgressLine("replay", stream=out, enabled=True, clock=ticks)
>>> line.update(1_000, 0.25)
>>> line.update(2_000, 0.5)
>>> line.close()
>>> for drawn in out.getvalue().split("\\r")[1:]:
...     print(drawn.rstrip())
replay: 1,000 events  -/s  25%  ETA 0:00
replay: 2,000 events  1,000/s  50%  ETA 0:02
replay: 2,000 events  500/s  done in 0:04

The words come from the locale's catalogue (``texts``; English by default).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from alerts.locales import Catalogue, catalogue

__all__ = ["ProgressLine", "display_width", "format_duration", "pad_to_width", "tracked_lines"]


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes: two for East Asian wide and full-width characters
    (Unicode TR 11), one for the others.

    >>> display_width("replay"), display_width("回放")
    (6, 4)
    """
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad_to_width(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` terminal cells (see :func:`display_width`)."""
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``.

    >>> format_duration(75), format_duration(3_725)
    ('1:15', '1:02:05')
    """
    total = max(round(seconds), 0)
    hours, rest = divmod(total, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """Redraws ``<label>: N events  R/s  P%  ETA t`` in place on a terminal.

    Parameters
    ----------
    label
        The command's name, first on the line.
    stream
        Where to draw (standard error by default).
    enabled
        Draw at all; default: only when ``stream`` is a terminal.
    interval_s
        Least time between two redraws.
    clock
        Monotonic clock in seconds (tests inject one).
    texts
        The catalogue of the line's words (``AFTERSALES_LOCALE``); English by default.
    """

    def __init__(
        self,
        label: str,
        *,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        texts: Catalogue | None = None,
    ) -> None:
        import sys

        self.texts = texts or catalogue("en")
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_tty(self.stream) if enabled is None else enabled
        self.interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._width = 0
        self.count = 0

    def update(self, count: int, done: float | None = None) -> None:
        """Report ``count`` events so far and the fraction ``done`` (0..1) when known."""
        self.count = count
        if not self.enabled:
            return
        now = self._clock()
        if self._drawn_at is not None and now - self._drawn_at < self.interval_s:
            return
        self._drawn_at = now
        elapsed = now - self._started
        text = self.texts.text(
            "progress.running",
            label=self.label,
            count=f"{count:,}",
            rate=self._rate(count, elapsed),
        )
        if done is not None and 0 < done <= 1:
            eta = elapsed * (1 - done) / done
            text += self.texts.text("progress.eta", done=f"{done:.0%}", eta=format_duration(eta))
        self._draw(text)

    def close(self) -> None:
        """Draw the final figures and end the line (nothing when disabled)."""
        if not self.enabled:
            return
        elapsed = self._clock() - self._started
        self._draw(
            self.texts.text(
                "progress.done",
                label=self.label,
                count=f"{self.count:,}",
                rate=self._rate(self.count, elapsed),
                elapsed=format_duration(elapsed),
            )
        )
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, text: str) -> None:
        width = display_width(text)
        pad = " " * max(self._width - width, 0)
        self._width = width
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()

    def _rate(self, count: int, elapsed: float) -> str:
        return self.texts.text(
            "progress.rate", rate=f"{count / elapsed:,.0f}" if elapsed > 0 else "-"
        )


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def tracked_lines(
    lines: Iterable[bytes],
    total_bytes: int,
    progress: ProgressLine,
    see: Callable[[bytes], None] | None = None,
    every: int = 4_096,
) -> Iterator[bytes]:
    """``lines`` of a file unchanged, reporting progress (the fraction of its bytes read)
    every ``every`` lines; ``see`` is called with each non-blank line."""
    read = count = 0
    for line in lines:
        read += len(line)
        count += 1
        if see is not None and len(line) > 2:  # not a blank line
            see(line)
        if count % every == 0:
            progress.update(count, read / total_bytes if total_bytes else None)
        yield line
    progress.update(count, 1.0)
