"""Regenerate the zh_CN pictures of docs/china.md from real runs of the CLI.

Run from the repository root (about a minute; ``--demo`` adds its duration)::

    PYTHONPATH=. python docs/screenshots/render.py
    PYTHONPATH=. python docs/screenshots/render.py --demo 150

It writes into ``docs/screenshots/``:

- ``replay-zh_CN.svg``: the terminal of ``AFTERSALES_LOCALE=zh_CN aftersales replay`` over
  three simulated days with three incidents and the China rules (UTC+8), standard
  error on a pseudo-terminal as a person at a shell sees it.
- ``report-zh_CN.png`` and ``report-series-zh_CN.png``: that replay's HTML report
  rendered by ``wkhtmltoimage`` (Qt WebKit; Debian: ``apt-get install wkhtmltopdf
  fonts-wqy-microhei``): its top, and its series section (the sections before it
  hidden). Without ``wkhtmltoimage`` they are skipped with a message.
- ``demo-zh_CN.svg`` (with ``--demo SECONDS``): ``aftersales demo`` piped, its first
  and last lines.

The SVGs hold the commands' text unchanged, except that a line wider than the terminal
is cut (ending in ``…``) and a long middle is replaced by one line saying how many lines
were left out. Characters sit on a terminal grid (two cells for a CJK character, Unicode
TR 11) and lines are tinted as the demo tints alert lines on a terminal.
"""

from __future__ import annotations

import argparse
import html
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
COLUMNS = 150
CELL_PX = 8.4
LINE_PX = 19
FONT_PX = 14
PAD_PX = 16
TITLE_PX = 30
SIMULATE = [
    "simulate",
    "--days",
    "3",
    "--orders-per-day",
    "3000",
    "--seed",
    "7",
    "--incident",
    "wait_time_surge",
    "--incident",
    "customer_burst",
    "--incident",
    "wrong_price",
    "--out",
    "events.jsonl",
]
REPLAY = [
    "replay",
    "events.jsonl",
    "--rules",
    "china.toml",
    "--out",
    "alerts.jsonl",
    "--report",
    "report.html",
]
#: ANSI colours of the console sink (alerts.sinks) and the log renderer.
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TINTS = (
    (re.compile(r" 恢复 | RESOLVED "), "#7ec699"),
    (re.compile(r" 告警 严重 | FIRING critical "), "#ff6b6b"),
    (re.compile(r" 告警 警告 | FIRING warning "), "#e6c07b"),
    (re.compile(r" 告警 提示 | FIRING info "), "#56b6c2"),
    (re.compile(r"^\$ "), "#98c379"),
)
_TEXT = "#d4d4d4"
#: Shows the report's series section, starting at the first wait_time_p90 chart.
_SERIES_ONLY = (
    "(function(){var k=[].slice.call(document.body.children);"
    "var h=k.filter(function(e){return e.tagName=='H2';}).pop();"
    "var s=k.indexOf(h);"
    "var t=k.indexOf(k.filter(function(e){return e.tagName=='H3'&&"
    "e.textContent.indexOf('wait_time_p90')>=0;})[0]);"
    "k.forEach(function(e,i){if(i<s||(i>s+2&&i<t)){e.style.display='none';}});})();"
)


def main() -> None:
    """Run the commands and write the pictures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=int, metavar="SECONDS", help="Also run the demo.")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="Only lay the existing SVGs out again from the text they keep (no runs).",
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.redraw:
        for path in sorted(OUT.glob("*.svg")):
            svg = path.read_text(encoding="utf-8")
            title = html.unescape(re.findall(r'aria-label="([^"]*)"', svg)[0])
            text = html.unescape(re.findall(r"<desc>(.*?)</desc>", svg, re.DOTALL)[0])
            _write(path, title, text.split("\n"))
        return
    with tempfile.TemporaryDirectory(prefix="aftersales-shots-") as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "deploy" / "rules" / "china.toml", work / "china.toml")
        subprocess.run(_cli(SIMULATE), cwd=work, env=_env(), check=True, capture_output=True)
        shown = _on_terminal(_cli(REPLAY), work)
        command = "$ AFTERSALES_LOCALE=zh_CN aftersales " + " ".join(REPLAY)
        _write(OUT / "replay-zh_CN.svg", "aftersales replay (zh_CN)", [command, *shown])
        _report_pictures(work / "report.html")
    if args.demo:
        _demo(args.demo)


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "streams.cli.main", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AFTERSALES_LOCALE"] = "zh_CN"
    env["COLUMNS"] = str(COLUMNS)
    return env


def _on_terminal(command: list[str], cwd: Path) -> list[str]:
    """Standard error of ``command`` on a pseudo-terminal, as the lines left on screen."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65_536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    if process.wait() != 0:
        raise SystemExit(f"{command} failed:\n{shown.decode('utf-8', 'replace')}")
    return screen_lines(shown.decode("utf-8", "replace"))


def screen_lines(text: str) -> list[str]:
    """The lines a terminal keeps of ``text``: escape codes dropped, each carriage return
    overwriting its line from the first cell (a wide character covers two cells)."""
    lines = []
    for raw in _ESCAPE.sub("", text).replace("\r\n", "\n").split("\n"):
        cells: list[str] = []  # a wide character, then "" for its second cell
        for part in raw.split("\r"):
            at = 0
            for char in part:
                width = _cells(char)
                cells[at : at + width] = [char, ""][:width]
                at += width
        lines.append("".join(cells).rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _report_pictures(report: Path) -> None:
    tool = shutil.which("wkhtmltoimage")
    if tool is None:
        print("wkhtmltoimage not found: report pictures not rendered", file=sys.stderr)
        return
    common = [tool, "--quiet", "--width", "1100", "--format", "png", "--quality", "0"]
    for name, extra in (
        ("report-zh_CN.png", ["--crop-h", "1400"]),
        ("report-series-zh_CN.png", ["--run-script", _SERIES_ONLY, "--crop-h", "1150"]),
    ):
        subprocess.run(
            [*common, *extra, str(report), str(OUT / name)], check=True, capture_output=True
        )


def _demo(seconds: int) -> None:
    from streams.dev.embedded_broker import free_port

    port = str(free_port())
    command = ["demo", "--duration", str(seconds), "--rules", "china.toml", "--web-port", port]
    with tempfile.TemporaryDirectory(prefix="aftersales-shots-") as tmp:
        shutil.copy(ROOT / "deploy" / "rules" / "china.toml", Path(tmp) / "china.toml")
        done = subprocess.run(
            _cli(command), cwd=tmp, env=_env(), capture_output=True, text=True, check=True
        )
    lines = done.stdout.splitlines()
    head, tail = 30, 6
    if len(lines) > head + tail + 1:
        left_out = len(lines) - head - tail
        lines = [*lines[:head], f"… ({left_out} lines left out)", *lines[-tail:]]
    title = "aftersales demo (zh_CN, piped)"
    line = "$ AFTERSALES_LOCALE=zh_CN aftersales " + " ".join(command)
    _write(OUT / "demo-zh_CN.svg", title, [line, *lines])


def _cells(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _clip(line: str) -> str:
    used, kept = 0, []
    for char in line:
        if used + _cells(char) > COLUMNS - 1:
            kept.append("…")
            break
        kept.append(char)
        used += _cells(char)
    return "".join(kept)


def _runs(line: str) -> list[tuple[int, int, str]]:
    """``(first cell, width in cells, text)`` of each run of characters of one width;
    spaces end a run and are left out (their cells stay empty), since renderers may drop
    spaces at the edge of a stretched run."""
    runs: list[tuple[int, int, str]] = []
    cell = 0
    for char in line:
        width = _cells(char)
        if char == " ":
            cell += 1
            continue
        if runs and runs[-1][0] + runs[-1][1] == cell and _cells(runs[-1][2][-1]) == width:
            first, span, text = runs[-1]
            runs[-1] = (first, span + width, text + char)
        else:
            runs.append((cell, width, char))
        cell += width
    return runs


def _tint(line: str) -> str:
    return next((colour for pattern, colour in _TINTS if pattern.search(line)), _TEXT)


def _write(path: Path, title: str, lines: list[str]) -> None:
    """An SVG of ``lines`` on a terminal grid."""
    width = COLUMNS * CELL_PX + 2 * PAD_PX
    height = TITLE_PX + len(lines) * LINE_PX + 2 * PAD_PX
    label = html.escape(title)
    mono = "DejaVu Sans Mono, Noto Sans Mono CJK SC, WenQuanYi Micro Hei Mono, monospace"
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
            f'viewBox="0 0 {width:.0f} {height}" role="img" aria-label="{label}">'
        ),
        '<rect width="100%" height="100%" rx="6" fill="#1e1e1e"/>',
        f"<desc>{html.escape(chr(10).join(lines))}</desc>",
        f'<rect width="100%" height="{TITLE_PX}" rx="6" fill="#3c3c3c"/>',
        (
            f'<text x="{width / 2:.0f}" y="20" fill="#cccccc" font-size="13" '
            f'font-family="DejaVu Sans, sans-serif" text-anchor="middle">{label}</text>'
        ),
        f'<g font-family="{mono}" font-size="{FONT_PX}" xml:space="preserve">',
    ]
    for row, line in enumerate(lines):
        y = TITLE_PX + PAD_PX + (row + 1) * LINE_PX - 5
        colour = _tint(line)
        for first, span, text in _runs(_clip(line)):
            x = PAD_PX + first * CELL_PX
            parts.append(
                f'<text x="{x:.1f}" y="{y}" fill="{colour}" textLength="{span * CELL_PX:.1f}" '
                f'lengthAdjust="spacingAndGlyphs">{html.escape(text)}</text>'
            )
    parts.append("</g></svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
