"""``aftersales demo``: events flow, /metrics answers, a real alert shows, nothing is left behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from streams.dev.embedded_broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A safety stop only: the first test stops the demo with Ctrl-C (SIGINT) once an alert
#: and the events on /metrics showed, as a person would.
DURATION_S = 300
#: The Chinese test stops by ``--duration``: the first alerts show within about 20 s on
#: a quiet machine (the history's windows close as it streams in).
ZH_DURATION_S = 60


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class TestDemo:
    def test_demo_shows_flow_metrics_and_an_alert_then_stops_cleanly(self, tmp_path: Path) -> None:
        """The demo serves /metrics with events and prints a FIRING line; Ctrl-C then
        stops it with exit code 0 and its broker and web port closed; piped, its output
        is plain (no escape codes, no JSON log lines, alert times of one width) and it
        leaves no data folder behind."""
        port = free_port()
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli.main",
                "demo",
                "--duration",
                str(DURATION_S),
                "--web-port",
                str(port),
                "--history-days",
                "3",
                "--orders-per-day",
                "4000",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True
        )  # type: ignore[union-attr]
        reader.start()
        events_seen = 0.0
        first_alert_s = None
        interrupted = False
        started = time.monotonic()
        try:
            while process.poll() is None and time.monotonic() - started < DURATION_S + 60:
                time.sleep(1)
                if first_alert_s is not None and events_seen > 0 and not interrupted:
                    time.sleep(2)  # a few more alert lines, to compare their widths
                    process.send_signal(signal.SIGINT)
                    interrupted = True
                if first_alert_s is None and any(" FIRING " in line for line in lines):
                    first_alert_s = time.monotonic() - started
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/metrics", timeout=5
                    ) as reply:
                        text = reply.read().decode()
                    events_seen = max(
                        events_seen,
                        sum(
                            float(line.rsplit(" ", 1)[1])
                            for line in text.splitlines()
                            if line.startswith('aftersales_events_total{outcome="ok"')
                        ),
                    )
                except OSError:
                    pass
            code = process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(5)
        output = "".join(lines)
        broker = re.search(r"broker 127\.0\.0\.1:(\d+)", output)
        assert code == 0, output[-3000:]
        assert events_seen > 0, "no events on /metrics while the demo ran"
        assert first_alert_s is not None and first_alert_s < 180, output[-3000:]
        assert interrupted and time.monotonic() - started < DURATION_S, "not stopped by Ctrl-C"
        assert lines[-1].rstrip() == "aftersales demo: stopped; broker and worker are down.", lines[
            -3:
        ]
        assert "[flow] events ok" in output
        assert broker is not None
        assert not port_open("127.0.0.1", int(broker.group(1))), "broker still listening"
        assert not port_open("127.0.0.1", port), "web port still open"
        assert "\x1b" not in output and "\b" not in output, "terminal escape codes when piped"
        assert not [line for line in lines if line.startswith("{")], "JSON log lines"
        # Console-format warnings (of the intake child's Kafka client too) split the alerts.
        assert not [line for line in lines if "[warning" in line], "warning log lines"
        alert_times = {
            len(match.group(1))
            for line in lines
            if (match := re.match(r"(.*?) (FIRING|RESOLVED) ", line))
        }
        assert len(alert_times) == 1, alert_times  # one width: the columns align
        assert list(tmp_path.iterdir()) == [], "the demo left files in its working directory"

    def test_demo_in_chinese_with_the_china_rules(self, tmp_path: Path) -> None:
        """AFTERSALES_LOCALE=zh_CN with deploy/rules/china.toml: the demo's start, flow,
        alert and stop lines are Chinese, with times in UTC+8, and nothing else is
        printed between them on standard output."""
        root = Path(__file__).resolve().parents[2]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")},
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
            "AFTERSALES_LOCALE": "zh_CN",
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli.main",
                "demo",
                "--duration",
                str(ZH_DURATION_S),
                "--web-port",
                str(free_port()),
                "--history-days",
                "3",
                "--orders-per-day",
                "4000",
                "--rules",
                str(root / "deploy" / "rules" / "china.toml"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
            check=False,
        )
        output = done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert done.returncode == 0, output[-3000:]
        assert lines[0].startswith("aftersales 演示：broker "), lines[0]
        assert any(line.startswith("[流量] 有效事件：订单=") for line in lines)
        alerts = [line for line in lines if re.match(r"\S+ \S+ UTC\+8 (告警|恢复) ", line)]
        assert alerts, output[-3000:]
        assert lines[-1] == "aftersales 演示：已停止；broker 和 worker 已关闭。"
        others = [
            line
            for line in lines
            if line not in alerts and not line.startswith(("aftersales 演示：", "[流量] "))
        ]
        assert others == [], others
        # Logs go to standard error, and only errors: no routine client warnings.
        assert "[warning" not in done.stderr, done.stderr
