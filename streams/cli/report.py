"""A self-contained HTML report of a replay: alerts, and each alerting series with its band.

Size: a self-contained HTML page (tables, legend and SVG charts written by hand, no
template engine or charting dependency); the chart drawing is a third of it and could
move to a module of its own.

The report is one HTML file with inline CSS and inline SVG charts drawn here (no
JavaScript, no external resources), so it opens anywhere and can be attached to a
ticket. It is built in two passes over the same input (replay is deterministic):

1. the ordinary replay yields the alert events (the caller writes them out);
2. a second replay records, through :attr:`WindowCloser.on_closed`, the decisions of
   only the series that had an episode (at most :data:`MAX_CHARTS` of them, most
   severe first), so memory stays bounded by what is drawn.

Per-event alerts (``order_outlier``) have no windows and appear in a table only.
The output depends only on the input, the rules and the options: it carries no
generation time.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path

from alerts.locales import Locale
from alerts.model import AlertEvent, SeriesRef, datetime_to_ms
from alerts.text import AlertTexts
from streams.pipeline.closer import Closed
from streams.pipeline.replay import ReplayPipeline
from streams.risk.outreach import OutreachItem
from streams.rules.catalogue import RuleSet

__all__ = [
    "MAX_CHARTS",
    "MAX_TABLE_ROWS",
    "SeriesRecording",
    "record_series",
    "render_report",
    "select_series",
    "write_report",
]

#: Charts drawn at most (most severe series first); the report says when more alerted.
MAX_CHARTS = 60
#: Rows of each alert table at most; the report says when more were left off.
MAX_TABLE_ROWS = 2_000
#: Points drawn per chart at most; longer series are bucketed (min/max kept).
MAX_POINTS = 1_200

Records = Iterable[tuple[str, bytes | None, bytes | None]]

_SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}
_NAN = float("nan")

# chart geometry (px)
_W, _H = 1100, 250
_ML, _MR, _MT, _MB = 64, 16, 14, 34


@dataclass(slots=True)
class SeriesRecording:
    """The decisions of one series at every window close (``NaN`` where unknown)."""

    series: SeriesRef
    end_ms: array[int] = field(default_factory=lambda: array("q"))
    observed: array[float] = field(default_factory=lambda: array("d"))
    baseline: array[float] = field(default_factory=lambda: array("d"))
    lower: array[float] = field(default_factory=lambda: array("d"))
    upper: array[float] = field(default_factory=lambda: array("d"))
    alerting: array[int] = field(default_factory=lambda: array("b"))

    def add(self, closed: Closed) -> None:
        """Append one window close."""
        d = closed.decision
        self.end_ms.append(closed.window_end_ms)
        self.observed.append(_num(d.observed))
        self.baseline.append(_num(d.baseline))
        self.lower.append(_num(d.lower))
        self.upper.append(_num(d.upper))
        self.alerting.append(1 if closed.alerting else 0)


@dataclass(slots=True)
class _Recorded:
    series: dict[SeriesRef, SeriesRecording]
    first_ms: int | None = None
    last_ms: int | None = None


def _num(value: float | None) -> float:
    if value is None or not math.isfinite(value):
        return _NAN
    return float(value)


# -- passes ----------------------------------------------------------------------------------


def select_series(
    alerts: Sequence[AlertEvent], cap: int = MAX_CHARTS
) -> tuple[list[SeriesRef], int]:
    """The window-rule series that had an episode, most severe first, and how many there were.

    Severity is the worst alert severity of the series, then the largest ``|score|``,
    then the series name (so the order is deterministic).
    """
    worst: dict[SeriesRef, tuple[int, float]] = {}
    for alert in alerts:
        if alert.is_instant:
            continue
        rank = (_SEVERITY_RANK.get(alert.severity, 0), abs(alert.score))
        worst[alert.series] = max(worst.get(alert.series, (0, 0.0)), rank)
    ordered = sorted(worst, key=lambda s: (-worst[s][0], -worst[s][1], s))
    return ordered[:cap], len(ordered)


def record_series(
    rules: RuleSet, records: Records, series: Iterable[SeriesRef], *, partitions: int = 4
) -> tuple[dict[SeriesRef, SeriesRecording], tuple[int | None, int | None]]:
    """Replay ``records`` again and keep the window closes of ``series`` only.

    Returns the recordings and the first window start / last window end seen over all
    series (the replay's time range).
    """
    recorded = _Recorded({ref: SeriesRecording(ref) for ref in series})

    def on_closed(closed: Closed) -> None:
        if recorded.first_ms is None or closed.window_start_ms < recorded.first_ms:
            recorded.first_ms = closed.window_start_ms
        if recorded.last_ms is None or closed.window_end_ms > recorded.last_ms:
            recorded.last_ms = closed.window_end_ms
        rec = recorded.series.get(SeriesRef(closed.rule, closed.dimension, closed.key))
        if rec is not None:
            rec.add(closed)

    pipeline = ReplayPipeline(rules, partitions=partitions, risk=False)
    pipeline.closer.on_closed = on_closed
    for _ in pipeline.run(records):
        pass
    return recorded.series, (recorded.first_ms, recorded.last_ms)


def write_report(
    path: str | Path,
    *,
    rules: RuleSet,
    records: Callable[[], Records],
    alerts: Sequence[AlertEvent],
    events_label: str,
    rules_label: str,
    events_count: int,
    dead_letters: int,
    partitions: int = 4,
    cap: int = MAX_CHARTS,
    locale: Locale = "en",
    outreach: Sequence[OutreachItem] | None = None,
) -> int:
    """Replay again for the alerting series and write the HTML report; return charts drawn.

    ``records`` opens the input anew (the second pass); ``alerts`` are the alert events
    of the first pass. Texts are in ``locale``, times in the rules' ``utc_offset``.
    ``outreach`` (the riskiest open orders, ``replay --risk-out``) adds its section.
    """
    chosen, total = select_series(alerts, cap)
    recordings, span = record_series(rules, records(), chosen, partitions=partitions)
    html = render_report(
        alerts=alerts,
        recordings=[recordings[s] for s in chosen],
        alerting_series=total,
        cap=cap,
        events_label=events_label,
        rules_label=rules_label,
        events_count=events_count,
        dead_letters=dead_letters,
        partitions=partitions,
        span=span,
        view=View(AlertTexts(locale=locale), rules.utc_offset_ms),
        outreach=outreach,
    )
    Path(path).write_text(html, encoding="utf-8")
    return len(chosen)


# -- rendering -------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#222;
max-width:1180px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:18px 0 4px;font-weight:600}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;white-space:nowrap}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px;margin:0}
dt{font-weight:600}dd{margin:0}
.firing{color:#b30000;font-weight:600}.resolved{color:#2a7a2a;font-weight:600}
.critical{background:#fbe3e3}.warning{background:#fdf3d8}
.note{font-size:12px;color:#555}
svg.chart{display:block;border:1px solid #e5e5e5;background:#fff}
svg text{font-size:11px;fill:#444;font-family:inherit}
.band{fill:#9ecae1;fill-opacity:.45;stroke:none}
.baseline{fill:none;stroke:#555;stroke-width:1.2;stroke-dasharray:5 4}
.observed{fill:none;stroke:#1f4e9c;stroke-width:1.3}
.episode{fill:#d62728;fill-opacity:.14;stroke:#d62728;stroke-opacity:.5;stroke-width:.6}
.hot{fill:#d62728}.grid{stroke:#eee;stroke-width:1}.axis{stroke:#999;stroke-width:1}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.sw{display:inline-block;width:18px;height:10px;margin-right:4px;vertical-align:middle}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if abs(value) >= 1e6 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


@dataclass(frozen=True, slots=True)
class View:
    """How the report speaks: the locale's texts and the shop's UTC offset for times."""

    texts: AlertTexts = field(default_factory=AlertTexts)
    utc_offset_ms: int = 0

    def t(self, name: str, /, **values: object) -> str:
        """A report text, HTML-escaped after formatting."""
        return _e(self.texts.catalogue.text(name, **values))

    def time(self, when: datetime | int | None) -> str:
        """Date and minute in the shop's time (no zone: headers say it)."""
        if when is None:
            return self.texts.catalogue.text("value.missing")
        return self.texts.catalogue.time(when, self.utc_offset_ms, zone=False)

    @property
    def zone(self) -> str:
        """``UTC``, ``UTC+8``."""
        return self.texts.catalogue.zone(self.utc_offset_ms)


def _title(series: SeriesRef) -> str:
    return f"{series.rule} · {series.dimension}={series.key}"


def render_report(
    *,
    alerts: Sequence[AlertEvent],
    recordings: Sequence[SeriesRecording],
    alerting_series: int,
    cap: int,
    events_label: str,
    rules_label: str,
    events_count: int,
    dead_letters: int,
    partitions: int,
    span: tuple[int | None, int | None],
    view: View | None = None,
    outreach: Sequence[OutreachItem] | None = None,
) -> str:
    """The whole report as one HTML document (deterministic for equal inputs)."""
    view = view or View()
    window_alerts = [a for a in alerts if not a.is_instant]
    event_alerts = [a for a in alerts if a.is_instant]
    anchors = {rec.series: f"series-{i + 1}" for i, rec in enumerate(recordings)}
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{view.t("report.lang")}"><head><meta charset="utf-8">',
        f"<title>{view.t('report.title')} · {_e(events_label)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{view.t('report.title')}</h1>",
    ]
    out.append(
        _header(
            alerts, events_label, rules_label, events_count, dead_letters, partitions, span, view
        )
    )
    out.append(f"<h2>{view.t('report.window_alerts')}</h2>")
    out.append(_alert_table(window_alerts, anchors, view, instant=False))
    out.append(f"<h2>{view.t('report.event_alerts')}</h2>")
    out.append(_alert_table(event_alerts, anchors, view, instant=True))
    if outreach is not None:
        out.append(_outreach_table(outreach, view))
    out.append(f"<h2>{view.t('report.alerting_series')}</h2>")
    shown = len(recordings)
    if alerting_series > shown:
        note = view.t("report.showing_series", shown=shown, total=alerting_series, cap=cap)
        out.append(f'<p class="note">{note}</p>')
    elif shown:
        out.append(f'<p class="note">{view.t("report.series_count", shown=shown)}</p>')
    else:
        out.append(f'<p class="note">{view.t("report.no_episode")}</p>')
    if shown:
        out.append(_legend(view))
    by_series: dict[SeriesRef, list[AlertEvent]] = {}
    for alert in window_alerts:
        by_series.setdefault(alert.series, []).append(alert)
    for rec in recordings:
        out.append(_chart_block(rec, by_series.get(rec.series, []), anchors[rec.series], view))
    out.append("</body></html>\n")
    return "\n".join(out)


def _header(
    alerts: Sequence[AlertEvent],
    events_label: str,
    rules_label: str,
    events_count: int,
    dead_letters: int,
    partitions: int,
    span: tuple[int | None, int | None],
    view: View,
) -> str:
    counts: Counter[tuple[str, str]] = Counter((a.rule, a.status) for a in alerts)
    rules = sorted({rule for rule, _ in counts})
    rows = "".join(
        f"<tr><td>{_e(rule)}</td><td class='n'>{counts[(rule, 'firing')]}</td>"
        f"<td class='n'>{counts[(rule, 'resolved')]}</td></tr>"
        for rule in rules
    )
    table = (
        f"<table style='width:auto'><tr><th>{view.t('report.col_rule')}</th>"
        f"<th>{view.t('report.col_firing')}</th><th>{view.t('report.col_resolved')}</th>"
        f"</tr>{rows}</table>"
        if rules
        else f"<p class='note'>{view.t('report.no_alerts')}</p>"
    )
    events_value = view.t(
        "report.events_value",
        lines=f"{events_count:,}",
        dead=f"{dead_letters:,}",
        partitions=partitions,
    )
    windows_value = view.t(
        "report.windows_value", start=view.time(span[0]), end=view.time(span[1]), zone=view.zone
    )
    return (
        "<dl>"
        f"<dt>{view.t('report.input')}</dt><dd>{_e(events_label)}</dd>"
        f"<dt>{view.t('report.rules')}</dt><dd>{_e(rules_label)}</dd>"
        f"<dt>{view.t('report.events')}</dt><dd>{events_value}</dd>"
        f"<dt>{view.t('report.windows')}</dt><dd>{windows_value}</dd>"
        f"<dt>{view.t('report.alerts')}</dt><dd>{len(alerts):,}</dd>"
        f"</dl><h2>{view.t('report.per_rule')}</h2>" + table
    )


def _alert_table(
    alerts: Sequence[AlertEvent], anchors: dict[SeriesRef, str], view: View, *, instant: bool
) -> str:
    if not alerts:
        return f"<p class='note'>{view.t('report.none')}</p>"
    columns = (
        "status",
        "rule",
        "dimension",
        "key",
        "severity",
        "time" if instant else "window_end",
        "observed",
        "baseline",
        "band",
        "summary",
        "runbook",
    )
    head = "<tr>" + "".join(f"<th>{view.t(f'report.col_{c}')}</th>" for c in columns) + "</tr>"
    words = view.texts.catalogue
    rows = []
    for alert in alerts[:MAX_TABLE_ROWS]:
        anchor = anchors.get(alert.series)
        key = _e(alert.key)
        if anchor is not None:
            key = f'<a href="#{anchor}">{key}</a>'
        status = (
            view.t("report.status_event")
            if instant
            else _e(words.label("report.status", alert.status))
        )

        def fmt(value: float | None, rule: str = alert.rule) -> str:
            return _e(view.texts.format_value(value, rule))

        rows.append(
            f"<tr class='{_e(alert.severity)}'><td class='{_e(alert.status)}'>{status}</td>"
            f"<td>{_e(alert.rule)}</td><td>{_e(view.texts.dimension(alert.dimension))}</td>"
            f"<td>{key}</td><td>{_e(words.label('severity', alert.severity))}</td>"
            f"<td class='n'>{_e(view.time(alert.window_end))}</td>"
            f"<td class='n'>{fmt(alert.observed)}</td><td class='n'>{fmt(alert.baseline)}</td>"
            f"<td class='n'>{fmt(alert.lower)} &#8211; {fmt(alert.upper)}</td>"
            f"<td>{_e(alert.summary)}</td><td>{_e(alert.runbook)}</td></tr>"
        )
    note = ""
    if len(alerts) > MAX_TABLE_ROWS:
        text = view.t("report.first_rows", shown=f"{MAX_TABLE_ROWS:,}", total=f"{len(alerts):,}")
        note = f"<p class='note'>{text}</p>"
    return f"<table>{head}{''.join(rows)}</table>{note}"


def _outreach_table(items: Sequence[OutreachItem], view: View) -> str:
    """The outreach section: riskiest open orders, main factors, suggested action."""
    head = f"<h2>{view.t('report.outreach')}</h2>"
    if not items:
        return head + f'<p class="note">{view.t("report.outreach_none")}</p>'
    cols = ("order", "score", "level", "stage", "customer", "action", "factors")
    rows = [
        "<table><tr>" + "".join(f"<th>{view.t('report.col_' + c)}</th>" for c in cols) + "</tr>"
    ]
    for item in items:
        factors = ", ".join(f"{name} +{value:.2f}" for name, value in item.factors)
        rows.append(
            f'<tr><td>{_e(item.order_id)}</td><td class="n">{item.score:.2f}</td>'
            f"<td>{_e(item.level)}</td><td>{_e(item.stage)}</td>"
            f"<td>{_e(item.customer_id or '')}</td><td>{_e(item.action)}</td>"
            f"<td>{_e(factors)}</td></tr>"
        )
    return head + "".join(rows) + "</table>"


def _legend(view: View) -> str:
    return (
        "<p class='legend'>"
        "<span><i class='sw' style='background:#1f4e9c;height:2px'></i>"
        f"{view.t('report.legend_observed')}</span>"
        "<span><i class='sw' style='border-top:2px dashed #555;height:0'></i>"
        f"{view.t('report.legend_baseline')}</span>"
        "<span><i class='sw' style='background:#9ecae1;opacity:.6'></i>"
        f"{view.t('report.legend_band')}</span>"
        "<span><i class='sw' style='background:#d62728;opacity:.25'></i>"
        f"{view.t('report.legend_episode')}</span>"
        "<span><i class='sw hot' style='width:6px;height:6px;border-radius:3px;"
        f"background:#d62728'></i>{view.t('report.legend_hot')}</span></p>"
    )


def _episodes(alerts: Sequence[AlertEvent], end_ms: int) -> list[tuple[int, int]]:
    """``[firing window start, resolved window start)`` per episode (open ones run to the end)."""
    spans: dict[str, list[int]] = {}
    order: list[str] = []
    for alert in alerts:
        start = datetime_to_ms(alert.window_start)
        if alert.status == "firing":
            if alert.alert_id not in spans:
                order.append(alert.alert_id)
            spans[alert.alert_id] = [start, end_ms]
        elif alert.alert_id in spans:
            spans[alert.alert_id][1] = max(start, spans[alert.alert_id][0])
    return [(spans[i][0], spans[i][1]) for i in order]


def _chart_block(
    rec: SeriesRecording, alerts: Sequence[AlertEvent], anchor: str, view: View
) -> str:
    title = _title(rec.series)
    n = len(rec.end_ms)
    head = f'<h3 id="{anchor}">{_e(title)}</h3>'
    if n == 0:
        return head + f"<p class='note'>{view.t('report.no_closes')}</p>"
    episodes = _episodes(alerts, rec.end_ms[-1])
    parts = [head, _svg(rec, episodes, rec.end_ms[0], rec.end_ms[-1], title, view)]
    lo = min(s for s, _ in episodes) if episodes else None
    hi = max(e for _, e in episodes) if episodes else None
    if lo is not None and hi is not None:
        full = rec.end_ms[-1] - rec.end_ms[0]
        pad = max(hi - lo, 6 * 3_600_000)
        z0, z1 = max(rec.end_ms[0], lo - pad), min(rec.end_ms[-1], hi + pad)
        if full > 0 and (z1 - z0) < 0.6 * full:
            zoom = view.t("report.zoom", start=view.time(z0), end=view.time(z1), zone=view.zone)
            parts.append(f"<p class='note'>{zoom}</p>")
            parts.append(
                _svg(
                    rec,
                    episodes,
                    z0,
                    z1,
                    view.texts.catalogue.text("report.zoom_title", title=title),
                    view,
                    css="chart zoom",
                )
            )
    return "\n".join(parts)


def _svg(
    rec: SeriesRecording,
    episodes: Sequence[tuple[int, int]],
    t0: int,
    t1: int,
    title: str,
    view: View,
    css: str = "chart",
) -> str:
    xs_all = rec.end_ms
    idx = [i for i in range(len(xs_all)) if t0 <= xs_all[i] <= t1]
    t = [xs_all[i] for i in idx]
    obs = [rec.observed[i] for i in idx]
    base = [rec.baseline[i] for i in idx]
    low = [rec.lower[i] for i in idx]
    up = [rec.upper[i] for i in idx]
    hot = [bool(rec.alerting[i]) for i in idx]
    t, obs, base, low, up, hot = _decimate(t, obs, base, low, up, hot)
    finite = [v for v in (*obs, *base, *low, *up) if math.isfinite(v)]
    ymin, ymax = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if ymin >= 0 and ymin <= 0.5 * ymax:
        ymin = 0.0
    if ymax - ymin < 1e-12:
        ymax = ymin + (abs(ymin) or 1.0)
    yticks = _nice_ticks(ymin, ymax)
    ymin, ymax = min(ymin, yticks[0]), max(ymax, yticks[-1])
    if t1 <= t0:
        t0, t1 = t0 - 1_800_000, t1 + 1_800_000
    pw, ph = _W - _ML - _MR, _H - _MT - _MB

    def x(ms: float) -> float:
        return _ML + (ms - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        return _MT + (ymax - v) / (ymax - ymin) * ph

    bottom, top = _MT + ph, _MT
    svg = [
        (
            f'<svg class="{css}" role="img" width="{_W}" height="{_H}" '
            f'viewBox="0 0 {_W} {_H}"><title>{_e(title)}</title>'
        )
    ]
    # grid and y axis
    for v in yticks:
        yy = y(v)
        svg.append(
            f'<line class="grid" x1="{_ML}" x2="{_W - _MR}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text x="{_ML - 6}" y="{yy + 4:.1f}" text-anchor="end">{_e(_fmt(v))}</text>'
        )
    for ms, label in _time_ticks(t0, t1, view):
        xx = x(ms)
        svg.append(
            f'<line class="grid" x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{bottom}"/>'
            f'<text x="{xx:.1f}" y="{bottom + 14}" text-anchor="middle">{_e(label)}</text>'
        )
    # episodes
    for start, end in episodes:
        a, b = max(start, t0), min(end, t1)
        if b < a:
            continue
        xa, xb = x(a), x(b)
        width = max(xb - xa, 2.0)
        tip = view.t(
            "report.episode_tip", start=view.time(start), end=view.time(end), zone=view.zone
        )
        svg.append(
            f'<rect class="episode" x="{xa:.1f}" y="{top}" width="{width:.1f}" '
            f'height="{ph}"><title>{tip}</title></rect>'
        )
    # band: one polygon per run of windows with a band
    for run in _runs(
        [math.isfinite(lo_) or math.isfinite(up_) for lo_, up_ in zip(low, up, strict=True)]
    ):
        upper_pts = [(x(t[i]), y(up[i] if math.isfinite(up[i]) else ymax)) for i in run]
        lower_pts = [(x(t[i]), y(low[i] if math.isfinite(low[i]) else ymin)) for i in reversed(run)]
        svg.append(f'<polygon class="band" points="{_pts(upper_pts + lower_pts)}"/>')
    for run in _runs([math.isfinite(v) for v in base]):
        line = _pts([(x(t[i]), y(base[i])) for i in run])
        svg.append(f'<polyline class="baseline" points="{line}"/>')
    for run in _runs([math.isfinite(v) for v in obs]):
        line = _pts([(x(t[i]), y(obs[i])) for i in run])
        svg.append(f'<polyline class="observed" points="{line}"/>')
    hot_pts = [(x(t[i]), y(obs[i])) for i in range(len(t)) if hot[i] and math.isfinite(obs[i])]
    for px, py in hot_pts[:600]:
        svg.append(f'<circle class="hot" cx="{px:.1f}" cy="{py:.1f}" r="2.2"/>')
    svg.append(
        f'<line class="axis" x1="{_ML}" x2="{_W - _MR}" y1="{bottom}" y2="{bottom}"/>'
        f'<line class="axis" x1="{_ML}" x2="{_ML}" y1="{top}" y2="{bottom}"/>'
    )
    svg.append(
        f'<text x="{_W / 2:.0f}" y="{_H - 4}" text-anchor="middle">'
        f"{view.t('report.axis_time', zone=view.zone)}</text></svg>"
    )
    return "".join(svg)


def _pts(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)


def _runs(mask: Sequence[bool]) -> list[list[int]]:
    runs: list[list[int]] = []
    current: list[int] = []
    for i, ok in enumerate(mask):
        if ok:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _decimate(
    t: list[int],
    obs: list[float],
    base: list[float],
    low: list[float],
    up: list[float],
    hot: list[bool],
) -> tuple[list[int], list[float], list[float], list[float], list[float], list[bool]]:
    """At most about :data:`MAX_POINTS` points: per bucket the observed min and max, the
    band's outer edges and the mean baseline (an alerting window keeps its bucket hot)."""
    n = len(t)
    if n <= MAX_POINTS:
        return t, obs, base, low, up, hot
    size = math.ceil(n / (MAX_POINTS // 2))
    out: tuple[list[int], list[float], list[float], list[float], list[float], list[bool]] = (
        [],
        [],
        [],
        [],
        [],
        [],
    )
    for s in range(0, n, size):
        idx = range(s, min(s + size, n))
        finite = [i for i in idx if math.isfinite(obs[i])]
        picks = (
            sorted({min(finite, key=lambda i: obs[i]), max(finite, key=lambda i: obs[i])})
            if finite
            else [idx[0]]
        )
        b = [base[i] for i in idx if math.isfinite(base[i])]
        lo_ = [low[i] for i in idx if math.isfinite(low[i])]
        hi_ = [up[i] for i in idx if math.isfinite(up[i])]
        for i in picks:
            out[0].append(t[i])
            out[1].append(obs[i])
            out[2].append(sum(b) / len(b) if b else _NAN)
            out[3].append(min(lo_) if lo_ else _NAN)
            out[4].append(max(hi_) if hi_ else _NAN)
            out[5].append(any(hot[j] for j in idx))
    return out


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    v = first
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


_STEPS_MS = [
    m * 60_000 for m in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200)
]


def _time_ticks(t0: int, t1: int, view: View, target: int = 10) -> list[tuple[int, str]]:
    """Ticks on round steps of the shop's local time (``view.utc_offset_ms``)."""
    span = t1 - t0
    step = next((s for s in _STEPS_MS if span / s <= target), _STEPS_MS[-1])
    offset = view.utc_offset_ms
    first = -(-(t0 + offset) // step) * step - offset
    day = 86_400_000
    words = view.texts.catalogue
    ticks = []
    for ms in range(first, t1 + 1, step):
        when = words.local(ms, offset)
        if step >= day:
            label = when.strftime(words.text("time.tick_day"))
        elif (ms + offset) % day == 0:
            label = when.strftime(words.text("time.tick_date"))
        else:
            label = when.strftime("%H:%M")
        ticks.append((ms, label))
    return ticks
