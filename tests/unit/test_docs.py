"""The README stays short and self-contained: size, the two commands, links that
resolve inside the repository and none to other sites."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from streams.rules.calendar import parse_calendar

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
#: A web address in prose: a link target, an autolink or a bare URL.
URL = re.compile(r"https?://[^\s)>\]]+")
#: Fenced code blocks and inline code: commands and examples, not links.
CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.DOTALL | re.MULTILINE)
#: Placeholders that point nowhere on the web: the reader's own machine, example.com.
LOCAL = re.compile(r"https?://(localhost|127\.0\.0\.1|([\w-]+\.)*example\.com)([:/]|$)")


def relative_links(path: Path) -> list[str]:
    """Targets of the markdown links in ``path`` that are not URLs."""
    return [t for t in LINK.findall(path.read_text()) if not re.match(r"[a-z]+:", t)]


def web_addresses(text: str) -> list[str]:
    """The http(s) addresses in ``text`` outside code that are not local placeholders."""
    return [url for url in URL.findall(CODE.sub("", text)) if not LOCAL.match(url)]


class TestReadme:
    def test_at_most_12_kb(self) -> None:
        """The README is at most 12,000 bytes."""
        assert len(README.read_bytes()) <= 12_000

    def test_has_a_section_for_shops_in_china(self) -> None:
        """A section names the Chinese locale, the China rules file and docs/china.md."""
        text = README.read_text()
        assert "## For shops in China" in text
        section = text.split("## For shops in China", 1)[1].split("\n## ", 1)[0]
        for needle in ("AFTERSALES_LOCALE=zh_CN", "deploy/rules/china.toml", "docs/china.md"):
            assert needle in section, needle
        assert 'utc_offset = "8h"' in (ROOT / "deploy" / "rules" / "china.toml").read_text()

    def test_on_call_section_has_a_valid_calendar(self) -> None:
        """The on-call section shows a calendar the service accepts, and names mutes,
        feedback and folding."""
        section = README.read_text().split("## On call", 1)[1].split("\n## ", 1)[0]
        block = section.split("```toml\n", 1)[1].split("```", 1)[0]
        calendar = parse_calendar(tomllib.loads(block))
        assert calendar.events[0].uplift == 2.25
        for needle in ("[[mutes]]", "aftersales feedback", "incident", "docs/on-call.md"):
            assert needle in section, needle

    def test_names_the_two_commands(self) -> None:
        """`make demo` and `make test` are in the README."""
        text = README.read_text()
        assert "make demo" in text and "make test" in text

    def test_has_tour_and_checklist(self) -> None:
        """The tour and the production checklist sections exist."""
        text = README.read_text()
        assert "## A five-minute tour" in text and "## Production checklist" in text
        for topic in ("Security", "Replication", "Retention", "Scaling", "Upgrades"):
            assert f"**{topic}**" in text

    def test_license_file_is_apache_2(self) -> None:
        """LICENSE holds the Apache License 2.0 that pyproject names."""
        text = (ROOT / "LICENSE").read_text()
        assert "Apache License" in text and "Version 2.0, January 2004" in text
        assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_stay_in_the_repository_and_resolve(doc: Path) -> None:
    """Every relative link resolves to a file in the repository, and no text outside
    code points at another web site."""
    for target in relative_links(doc):
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside: {target}"
        assert resolved.exists(), f"{doc.name}: broken link {target}"
    assert web_addresses(doc.read_text()) == [], f"{doc.name} links to other sites"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see [NAB](https://github.com/numenta/NAB)", ["https://github.com/numenta/NAB"]),
        ("see <https://grafana.com/docs/>", ["https://grafana.com/docs/"]),
        ("see https://pypi.org/p/x today", ["https://pypi.org/p/x"]),
        ("open <http://localhost:3000> or http://127.0.0.1:9090/graph", []),
        ("[band](https://grafana.example.com/d/x)", []),
        ("`curl https://example.org/x`", []),
        ("```sh\ncurl https://oapi.dingtalk.com/robot/send\n```\n", []),
        ("http://localhost.evil.org/x", ["http://localhost.evil.org/x"]),
    ],
)
def test_web_addresses(text: str, found: list[str]) -> None:
    """Links, autolinks and bare URLs count; code and local placeholders do not."""
    assert web_addresses(text) == found


def test_plain_return_rate_over_100_percent_is_explained() -> None:
    """docs/rules.md says why the plain ``return_rate`` (no ``cohort``) can exceed 100 %."""
    text = " ".join((ROOT / "docs" / "rules.md").read_text().split())
    assert "can exceed 100 %" in text
    assert "returns of earlier deliveries over this window's deliveries" in text


def test_every_setting_is_documented() -> None:
    """docs/configuration.md names every environment variable the settings read."""
    from dataclasses import fields

    from streams.runtime.config import Settings, env_name

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [
        env_name(f.name)
        for f in fields(Settings)
        if f"`{env_name(f.name)}`" not in text
        and not any(
            env_name(f.name).startswith(prefix) and f"`{prefix}*`" in text
            for prefix in ("KAFKA_SASL_", "KAFKA_SSL_")
        )
    ]
    assert missing == []


class TestChineseScreenshots:
    PICTURES = (
        "demo-zh_CN.svg",
        "replay-zh_CN.svg",
        "report-zh_CN.png",
        "report-series-zh_CN.png",
    )

    def test_pictures_exist_and_are_shown(self) -> None:
        """docs/china.md shows each zh_CN picture, and docs/screenshots/render.py, which
        makes them, is linked beside them."""
        text = (ROOT / "docs" / "china.md").read_text()
        for name in self.PICTURES:
            assert (ROOT / "docs" / "screenshots" / name).stat().st_size > 1_000, name
            assert f"](screenshots/{name})" in text, name
        assert "](screenshots/render.py)" in text

    def test_terminal_pictures_hold_the_chinese_output(self) -> None:
        """The terminal pictures are the Chinese output: replay's summary and the demo's
        flow and alert lines."""
        shots = ROOT / "docs" / "screenshots"
        replay = (shots / "replay-zh_CN.svg").read_text(encoding="utf-8")
        assert "AFTERSALES_LOCALE=zh_CN" in replay
        assert "告警：触发" in replay and "死信：" in replay
        demo = (shots / "demo-zh_CN.svg").read_text(encoding="utf-8")
        assert "[流量]" in demo and "告警" in demo and "UTC+8" in demo
