"""The README stays short and self-contained: size, the two commands, links that
resolve inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: Written on other branches of the same release; linked from the README already.
ELSEWHERE = {"docs/china.md", "docs/operations-hardening.md", "docs/signals.md", "docs/on-call.md"}
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def relative_links(path: Path) -> list[str]:
    """Targets of the markdown links in ``path`` that are not URLs."""
    return [t for t in LINK.findall(path.read_text()) if not re.match(r"[a-z]+:", t)]


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


@pytest.mark.parametrize(
    "doc", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_links_stay_in_the_repository_and_resolve(doc: Path) -> None:
    """Every relative link resolves to a file in the repository."""
    for target in relative_links(doc):
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside: {target}"
        name = resolved.relative_to(ROOT).as_posix()
        assert resolved.exists() or name in ELSEWHERE, f"{doc.name}: broken link {target}"


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
