"""Metric names used by PromQL expressions, and the names the worker exposes.

The deploy files (Prometheus rules, Grafana dashboards) may only query metrics
the worker really serves. :func:`metric_names` extracts the metric names an
expression selects (a light lexer, not a full PromQL parser: promtool checks the
syntax); :data:`WORKER_SAMPLE_NAMES` is the documented list, and
:func:`exposed_sample_names` reads the same set from a real ``/metrics`` scrape,
so the two can be compared.

>>> sorted(metric_names('sum by (topic) (rate(aftersales_events_total{outcome!="ok"}[5m]))'))
['aftersales_events_total']
>>> sorted(metric_names("time() - aftersales_watermark_seconds offset 1m"))
['aftersales_watermark_seconds']
>>> sorted(metric_names('topic:aftersales_events:rate5m{topic="$topic"} > 1e3'))
['topic:aftersales_events:rate5m']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "WORKER_METRICS",
    "WORKER_SAMPLE_NAMES",
    "exposed_metric_names",
    "exposed_sample_names",
    "grafana_to_promql",
    "is_recorded_name",
    "metric_names",
    "sample_names",
    "template_query_expr",
    "unknown_worker_names",
]

#: The worker's metric families and their types (as served at /metrics).
WORKER_METRICS: dict[str, str] = {
    "aftersales_events_total": "counter",
    "aftersales_dead_letter_total": "counter",
    "aftersales_alerts_total": "counter",
    "aftersales_alerts_active": "gauge",
    "aftersales_alert_info": "gauge",
    "aftersales_metric_observed": "gauge",
    "aftersales_metric_baseline": "gauge",
    "aftersales_metric_lower": "gauge",
    "aftersales_metric_upper": "gauge",
    "aftersales_metric_score": "gauge",
    "aftersales_metric_series": "gauge",
    "aftersales_metric_series_exported": "gauge",
    "aftersales_event_to_alert_seconds": "histogram",
    "aftersales_consumer_lag": "gauge",
    "aftersales_watermark_seconds": "gauge",
    "aftersales_window_close_lag_seconds": "gauge",
    "aftersales_broker_connected": "gauge",
    "aftersales_series_evicted_total": "counter",
    "aftersales_series_folded_total": "counter",
    "aftersales_alert_info_dropped": "gauge",
    "aftersales_snapshot_bytes": "gauge",
    "aftersales_snapshot_seconds": "gauge",
    "aftersales_snapshot_too_large_total": "counter",
    "aftersales_commit_failures_total": "counter",
    "aftersales_mute_active": "gauge",
    "aftersales_mute_suppressed_total": "counter",
    "aftersales_twin_deferred_total": "counter",
    "aftersales_feedback_verdicts_total": "counter",
    "aftersales_feedback_sensitivity_multiplier": "gauge",
}

_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


def sample_names(metrics: dict[str, str]) -> frozenset[str]:
    """Return the sample names a set of families exposes (histograms as _bucket/_sum/_count).

    >>> sorted(sample_names({"x_seconds": "histogram", "y_total": "counter"}))
    ['x_seconds_bucket', 'x_seconds_count', 'x_seconds_sum', 'y_total']
    """
    names: set[str] = set()
    for name, kind in metrics.items():
        names.update(name + suffix for suffix in _SUFFIXES.get(kind, ("",)))
    return frozenset(names)


#: Every sample name a query may select from the worker.
WORKER_SAMPLE_NAMES: frozenset[str] = sample_names(WORKER_METRICS)


def exposed_metric_names(exposition: str) -> frozenset[str]:
    """Return every sample name the families declared in a /metrics body can expose.

    Unlike :func:`exposed_sample_names` this includes labelled metrics that have
    no child yet (a freshly started worker), so it suits a name comparison.
    """
    from prometheus_client.parser import text_string_to_metric_families

    families = {}
    for family in text_string_to_metric_families(exposition):
        name = family.name + "_total" if family.type == "counter" else family.name
        families[name] = family.type
    return sample_names(families)


def exposed_sample_names(exposition: str) -> frozenset[str]:
    """Return the sample names present in a Prometheus text exposition (a /metrics body)."""
    from prometheus_client.parser import text_string_to_metric_families

    return frozenset(
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    )


_KEYWORDS = frozenset(
    "and or unless by without on ignoring group_left group_right offset bool "  # noqa: SIM905
    "atan2 inf nan start end".split()
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')')
_COMMENT = re.compile(r"#[^\n]*")
_BRACES = re.compile(r"\{[^}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")
_GRAFANA_INTERVAL = re.compile(r"\$\{?__(?:rate_interval|interval|range)(?:_ms|_s)?\}?")
_GRAFANA_VAR = re.compile(
    r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]"
)


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's interval macros by ``5m`` and its variables by their names.

    >>> grafana_to_promql('rate(x{key="$key"}[$__rate_interval])')
    'rate(x{key="key"}[5m])'
    """
    expr = _GRAFANA_INTERVAL.sub("5m", expr)
    return _GRAFANA_VAR.sub(lambda m: next(g for g in m.groups() if g), expr)


def template_query_expr(query: str) -> str | None:
    """Return the PromQL inside a Grafana variable query, or None if it has none.

    >>> template_query_expr('label_values(up{job="w"}, instance)')
    'up{job="w"}'
    >>> template_query_expr("label_values(rule)") is None
    True
    """
    query = query.strip()
    match = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", query, re.DOTALL)
    if match:
        return match.group(1)
    match = re.fullmatch(r"query_result\((.*)\)", query, re.DOTALL)
    if match:
        return match.group(1)
    if re.fullmatch(r"(label_values|label_names|metrics)\(.*\)", query, re.DOTALL):
        return None
    return query


def metric_names(expr: str) -> frozenset[str]:
    """Return the metric names selected by a PromQL (or Grafana-templated PromQL) expression."""
    expr = grafana_to_promql(expr)
    names = {m.group(1)[1:-1] for m in _NAME_MATCHER.finditer(expr)}
    expr = _STRING.sub('""', expr)
    expr = _COMMENT.sub(" ", expr)
    expr = _BRACES.sub(" ", expr)
    expr = _BRACKETS.sub(" ", expr)
    expr = _GROUPING.sub(" ", expr)
    for match in _IDENT.finditer(expr):
        name = match.group(1)
        if name not in _KEYWORDS:
            names.add(name)
    return frozenset(names)


def is_recorded_name(name: str) -> bool:
    """Tell whether a metric name is a recording rule's (level:metric:operations) name."""
    return ":" in name


def unknown_worker_names(
    names: Iterable[str], known: frozenset[str] = WORKER_SAMPLE_NAMES
) -> set[str]:
    """Return the ``aftersales_*`` names (not recorded names) that are not in ``known``."""
    return {n for n in names if n.startswith("aftersales_") and n not in known}
