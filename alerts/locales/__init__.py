"""Text catalogues per locale: alert summaries and runbooks, the console line, the report.

One module per locale (:mod:`alerts.locales.en`, :mod:`alerts.locales.zh_CN`) holds a
flat ``TEXTS`` mapping of keys to :meth:`str.format` templates. Every locale has the
keys and placeholders of ``en``; :func:`catalogue` returns a :class:`Catalogue` that
renders them and formats times in the shop's UTC offset.

Examples
--------
>>> catalogue("zh_CN").text("dimension.region")
'地区'
>>> catalogue("en").time(0, 8 * 3_600_000)
'1970-01-01 08:00 UTC+8'
>>> catalogue("fr")
Traceback (most recent call last):
    ...
ValueError: unknown locale 'fr': expected en or zh_CN
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from alerts.locales import en, zh_CN

__all__ = ["LOCALES", "Catalogue", "Locale", "catalogue", "placeholders"]

Locale = Literal["en", "zh_CN"]
LOCALES: Final[tuple[str, ...]] = get_args(Locale)
_TEXTS: Final[dict[str, Mapping[str, str]]] = {"en": en.TEXTS, "zh_CN": zh_CN.TEXTS}


def placeholders(template: str) -> frozenset[str]:
    """Names of the ``{placeholders}`` in ``template``."""
    return frozenset(
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    )


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The texts of one locale and how it shows times."""

    locale: Locale
    texts: Mapping[str, str]

    def text(self, name: str, /, **values: Any) -> str:
        """The template ``name`` filled with ``values`` (a missing name raises ``KeyError``)."""
        template = self.texts[name]
        return template.format(**values) if values else template

    def label(self, group: str, name: str) -> str:
        """``group.name`` if the catalogue has it (e.g. a dimension), else ``name`` itself."""
        return self.texts.get(f"{group}.{name}", name)

    def zone(self, utc_offset_ms: int) -> str:
        """``UTC``, ``UTC+8``, ``UTC-5:30``."""
        if not utc_offset_ms:
            return self.text("time.zone", offset="")
        sign = "+" if utc_offset_ms > 0 else "-"
        minutes = abs(utc_offset_ms) // 60_000
        hours, rest = divmod(minutes, 60)
        return self.text("time.zone", offset=f"{sign}{hours}" + (f":{rest:02d}" if rest else ""))

    def local(self, when: datetime | int, utc_offset_ms: int) -> datetime:
        """``when`` (a datetime or epoch milliseconds) in the shop's time zone."""
        moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when / 1000, UTC)
        return moment.astimezone(timezone(timedelta(milliseconds=utc_offset_ms)))

    def time(self, when: datetime | int, utc_offset_ms: int, *, zone: bool = True) -> str:
        """Date and minute in the shop's time, with its zone unless ``zone`` is false."""
        shown = self.local(when, utc_offset_ms).strftime(self.texts["time.format"])
        return f"{shown} {self.zone(utc_offset_ms)}" if zone else shown


@cache
def catalogue(locale: str = "en") -> Catalogue:
    """The catalogue of ``locale`` (``en`` or ``zh_CN``)."""
    if locale not in _TEXTS:
        raise ValueError(f"unknown locale {locale!r}: expected {' or '.join(LOCALES)}")
    # Checked above: `locale` is one of Locale's values (mypy does not narrow str by `in`).
    return Catalogue(locale, MappingProxyType(dict(_TEXTS[locale])))  # type: ignore[arg-type]
