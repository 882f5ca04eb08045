"""English texts (``en``): the reference catalogue every other locale mirrors.

Keys are flat strings; values are :meth:`str.format` templates. Another locale must
have the same keys with the same placeholders (``tests/unit/alerts/test_locales.py``).
"""

from __future__ import annotations

from typing import Final

TEXTS: Final[dict[str, str]] = {
    # Rules: the measured quantity, the sample noun (empty: not shown) and the runbook.
    "rule.order_volume.label": "Order volume",
    "rule.order_volume.sample_one": "",
    "rule.order_volume.sample_many": "",
    "rule.order_volume.runbook": (
        "Check checkout, payment and the {dimension} {key} storefront for errors or an "
        "outage; if orders rose, check stock and carrier capacity."
    ),
    "rule.order_outlier.label": "Order value",
    "rule.order_outlier.sample_one": "",
    "rule.order_outlier.sample_many": "",
    "rule.order_outlier.runbook": (
        "Check the price and stock settings of the product in order {key} now; hold the "
        "order for review before it ships."
    ),
    "rule.customer_order_burst.label": "Orders",
    "rule.customer_order_burst.sample_one": "",
    "rule.customer_order_burst.sample_many": "",
    "rule.customer_order_burst.runbook": (
        "Review the orders of {dimension} {key} for fraud or a bot before fulfilment; "
        "contact the customer if it looks like a mistake."
    ),
    "rule.return_rate.label": "Return rate",
    "rule.return_rate.sample_one": "delivery",
    "rule.return_rate.sample_many": "deliveries",
    "rule.return_rate.runbook": (
        "Check the size chart, photos and description of {dimension} {key}; read the "
        "return reasons and contact recent buyers before they return."
    ),
    "rule.return_rate.runbook_route": (
        "Ask the carrier about parcels damaged or late on {dimension} {key}, check the "
        "packing at the warehouse, and contact customers with parcels on the way before "
        "they return."
    ),
    "rule.complaint_rate.label": "Complaint rate",
    "rule.complaint_rate.sample_one": "delivery",
    "rule.complaint_rate.sample_many": "deliveries",
    "rule.complaint_rate.runbook": (
        "Read the newest complaints for {dimension} {key}; if one reason dominates, "
        "escalate to the carrier or supplier and contact affected customers proactively."
    ),
    "rule.complaint_rate.runbook_route": (
        "Read the newest complaints for {dimension} {key} and escalate damaged or late "
        "parcels to the carrier; contact the affected customers proactively."
    ),
    "rule.complaint_volume.label": "Complaints",
    "rule.complaint_volume.sample_one": "",
    "rule.complaint_volume.sample_many": "",
    "rule.complaint_volume.runbook": (
        "Open the complaint queue filtered on {dimension} {key}; find the common order, "
        "carrier or product and brief the service team with a standard answer."
    ),
    "rule.wait_time_p90.label": "90th-percentile wait",
    "rule.wait_time_p90.sample_one": "ticket",
    "rule.wait_time_p90.sample_many": "tickets",
    "rule.wait_time_p90.runbook": (
        "Move agents to the {key} queue, turn on callback or an auto-reply with the "
        "expected wait, and check for an incident driving contacts."
    ),
    "rule.wait_sla_breach_share.label": "Share of waits over the SLA",
    "rule.wait_sla_breach_share.sample_one": "ticket",
    "rule.wait_sla_breach_share.sample_many": "tickets",
    "rule.wait_sla_breach_share.runbook": (
        "More than the usual share of {key} contacts waits beyond the SLA: add agents or "
        "overflow to another team and tell waiting customers the expected time."
    ),
    "rule.handle_time_p90.label": "90th-percentile handling time",
    "rule.handle_time_p90.sample_one": "ticket",
    "rule.handle_time_p90.sample_many": "tickets",
    "rule.handle_time_p90.runbook": (
        "Find out what makes tickets on queue {key} slow (a new issue type, a broken "
        "tool, new agents) and publish a prepared answer; move experienced agents there."
    ),
    "rule.low_satisfaction_share.label": "Share of low satisfaction ratings",
    "rule.low_satisfaction_share.sample_one": "rating",
    "rule.low_satisfaction_share.sample_many": "ratings",
    "rule.low_satisfaction_share.runbook": (
        "Read the latest low-rated tickets of queue {key} with the service lead and call "
        "back the unhappy customers before they complain or leave."
    ),
    "rule.bad_review_rate.label": "Share of bad reviews",
    "rule.bad_review_rate.sample_one": "review",
    "rule.bad_review_rate.sample_many": "reviews",
    "rule.bad_review_rate.runbook": (
        "Read the new bad reviews of {dimension} {key}, check the product, listing and "
        "batch with the category manager and answer the reviewers."
    ),
    "rule.cancellation_rate.label": "Cancellation rate",
    "rule.cancellation_rate.sample_one": "order",
    "rule.cancellation_rate.sample_many": "orders",
    "rule.cancellation_rate.runbook": (
        "Check why orders of {dimension} {key} are cancelled: fraud checks, a pricing "
        "error, stock or delivery promises; stop the cause before more orders go."
    ),
    "rule.delivery_time_p90.label": "90th-percentile delivery time",
    "rule.delivery_time_p90.sample_one": "delivery",
    "rule.delivery_time_p90.sample_many": "deliveries",
    "rule.delivery_time_p90.runbook": (
        "Ask the carrier about {dimension} {key} (a hub backlog, a strike, weather), move "
        "new shipments to another carrier and warn customers whose parcels are on the way."
    ),
    "rule.late_delivery_share.label": "Share of late deliveries",
    "rule.late_delivery_share.sample_one": "delivery",
    "rule.late_delivery_share.sample_many": "deliveries",
    "rule.late_delivery_share.runbook": (
        "More parcels of {dimension} {key} arrive after the promised date: check the "
        "carrier's backlog, lengthen the promised dates shown at checkout and apologise "
        "to the customers waiting."
    ),
    "rule.lost_parcel.label": "Time in transit",
    "rule.lost_parcel.sample_one": "",
    "rule.lost_parcel.sample_many": "",
    "rule.lost_parcel.runbook": (
        "Ask the carrier to trace order {key}; tell the customer and reship or refund if "
        "it cannot be found."
    ),
    "rule.refund_delay_p90.label": "90th-percentile refund delay",
    "rule.refund_delay_p90.sample_one": "refund",
    "rule.refund_delay_p90.sample_many": "refunds",
    "rule.refund_delay_p90.runbook": (
        "Refunds of {dimension} {key} take longer than usual: check the refund queue and "
        "the payment provider, clear the backlog and tell waiting customers when."
    ),
    "rule.frequent_returner.label": "Returns in 30 days",
    "rule.frequent_returner.sample_one": "",
    "rule.frequent_returner.sample_many": "",
    "rule.frequent_returner.runbook": (
        "Review the returns of {dimension} {key} over the last 30 days: wardrobing, empty "
        "or swapped parcels, or a sizing problem; hold refunds until the returned items "
        "are inspected and contact the customer before the next order ships."
    ),
    "rule.shared_address.label": "Distinct customers",
    "rule.shared_address.sample_one": "",
    "rule.shared_address.sample_many": "",
    "rule.shared_address.runbook": (
        "Many customers order to {dimension} {key} today: check whether it is a reshipping "
        "or drop address, hold its unshipped orders for review and compare the accounts' "
        "payment details."
    ),
    # What an alert's context names, appended to its runbook (alerts.context_text.context_note).
    "context.most_affected": "Most affected: {parts}.",
    "context.orders": "Affected orders: {orders}.",
    "context.more": " and {n} more",
    "context.status": "kind",
    # order_outlier's episodes per sku (streams.pipeline.sku_rollup).
    "sku.label.transit": "Transit time",
    "lost.summary": (
        "{count} {noun} of carrier {key} not delivered after {observed} in "
        "transit (its usual p90 {baseline}): {orders}."
    ),
    "lost.runbook": (
        "Ask carrier {key} to trace the overdue parcels now, tell their customers "
        "and reship or refund those that cannot be found: {orders}."
    ),
    "sku.label.unit_price": "Unit price",
    "sku.label.quantity": "Quantity",
    "sku.side.down": "too low",
    "sku.side.up": "too high",
    "sku.order_one": "order",
    "sku.order_many": "orders",
    "sku.summary": (
        "{label} of sku {sku} is {observed} against a normal {baseline} ({side}) "
        "on {count} {noun}: {orders}."
    ),
    "sku.runbook": (
        "Correct the {label_lower} of sku {sku} in the catalogue or price feed now, "
        "hold its affected orders before they ship and decide whether to honour "
        "them. Affected orders: {orders}."
    ),
    "rule.generic.runbook": (
        "Look at {dimension} {key}: {rule} went {direction} to {observed} against a normal "
        "{baseline}; find what changed before customers notice."
    ),
    # Summary sentence, assembled in alerts.text.AlertTexts.summary.
    "summary.sentence": "{label} {where} is {observed}",
    "summary.where_total": "overall",
    "summary.where_one": "for {dimension} {key}",
    "summary.where_part": "{dimension} {key}",
    "summary.where_parts": "for {parts}",
    "summary.part_separator": " / ",
    "summary.baseline": " against a normal {baseline}",
    "summary.band": " (band {lower}\u2013{upper})",
    "summary.band_upper": " (upper limit {upper})",
    "summary.band_lower": " (lower limit {lower})",
    "summary.times": ", {ratio}\u00d7 the usual",
    "summary.above": ", {percent}% above the usual",
    "summary.below": ", {percent}% below the usual",
    "summary.sample": ", over {count} {noun}",
    "summary.sustained_above": (
        "; inside the band in this window, but above the usual window after window "
        "(sustained evidence)"
    ),
    "summary.sustained_below": (
        "; inside the band in this window, but below the usual window after window "
        "(sustained evidence)"
    ),
    "summary.decayed_above": (
        " in this window, but {decayed} recent orders add up past the limit of {limit} "
        "(a decayed count: each order's weight halves every {half_life} min)"
    ),
    "summary.end": ".",
    # Dimension names as people read them.
    "dimension.total": "total",
    "dimension.order": "order",
    "dimension.customer": "customer",
    "dimension.address": "address",
    "dimension.sku": "sku",
    "dimension.category": "category",
    "dimension.region": "region",
    "dimension.carrier": "carrier",
    "dimension.channel": "channel",
    "dimension.reason": "reason",
    "dimension.queue": "queue",
    "direction.up": "up",
    "direction.down": "down",
    "status.firing": "FIRING",
    "status.resolved": "RESOLVED",
    "severity.info": "info",
    "severity.warning": "warning",
    "severity.critical": "critical",
    # Values and times.
    "value.missing": "n/a",
    "unit.amount": "{value}",
    "unit.s": "{value} s",
    "unit.min": "{value} min",
    "unit.h": "{value} h",
    "time.format": "%Y-%m-%d %H:%M",
    "time.zone": "UTC{offset}",
    "time.tick_day": "%a %b %d",
    "time.tick_date": "%b %d",
    # The console line of the demo (one per alert event).
    "console.sustained": " (sustained)",
    "console.line": (
        "{time} {status} {severity} {rule} {where} observed {observed} vs normal "
        "{baseline} band [{lower} .. {upper}] score {score}{sustained} id {alert_id}"
    ),
    # `aftersales worker` when it cannot start (standard error, after "Error: ").
    "start.failed": "cannot start: {reason}",
    "broker.unreachable": (
        "cannot connect to {bootstrap} ({how}): {cause}; is the broker up, and is {check} right?"
    ),
    "broker.check_plain": "KAFKA_BOOTSTRAP_SERVERS",
    "broker.check_secured": (
        "KAFKA_BOOTSTRAP_SERVERS and the KAFKA_SECURITY_PROTOCOL/SASL/SSL settings"
    ),
    # The demo's own lines.
    "demo.start": (
        "aftersales demo: broker {broker}, metrics {metrics}, {history} events of history, "
        "then live at {speed}x with incidents at +5 min (wrong price), +10 min (customer "
        "burst), +20 min (wait-time surge on 'returns'). Ctrl-C stops."
    ),
    "demo.flow": (
        "[flow] events ok: orders={orders} complaints={complaints} wait-times={wait_times} | "
        "dead-lettered={dead} | alerts={alerts} | event time {time}"
    ),
    "demo.stopped": "aftersales demo: stopped; broker and worker are down.",
    # The progress line of `simulate` and `replay` on a terminal.
    "progress.running": "{label}: {count} events  {rate}",
    "progress.eta": "  {done}  ETA {eta}",
    "progress.done": "{label}: {count} events  {rate}  done in {elapsed}",
    "progress.rate": "{rate}/s",
    # The end-of-run summary and warm-up hint of `aftersales replay` (standard error).
    "run.replay": "replay: {events} events in {seconds} s{rate}",
    "run.rate": " ({rate} events/s)",
    "run.alerts": "alerts: {firing} firing, {resolved} resolved",
    "run.rule": "rule",
    "run.dead_letters": "dead letters: {count}",
    # ``backfill``'s summary (standard error).
    "backfill.done": (
        "backfill: {lines} lines in {seconds} s; {closers} closer snapshots ({bytes} bytes) written"
    ),
    "backfill.alerts": (
        "history alerts: {firing} firing, {resolved} resolved (not published); {open} still "
        "open, published"
    ),
    "backfill.hand_over": (
        "live input topics must hold every event from {time} on (an overlap is fine; a gap "
        "reads as silence)"
    ),
    "backfill.gaps": (
        "warning: {count} input partitions start after that time or are empty ({partitions}): "
        "the windows from then until their first event will read as silence (empty windows, "
        "possibly a drop alert)"
    ),
    "backfill.more": "{shown} and {count} more",
    # ``explain``, ``feedback`` and ``outreach``.
    "explain.none": "no window of {series} was closed in {events}",
    "feedback.recorded": "recorded: {series} {alert_id} {verdict}",
    "outreach.none": "no open order in the input",
    # ``simulate``'s summary on a terminal (streams.dev.simulator.cli).
    "sim.summary": "simulate: {events} events{where} in {seconds} s ({topics})",
    "sim.to_file": " to {path}",
    "sim.to_stdout": " to standard output",
    "sim.to_kafka": " to Kafka",
    "sim.incidents": "incidents: {count}",
    "sim.incident": "  {type} from {start}",
    "sim.no_incidents": "incidents: none (add --incident TYPE or --scenario default)",
    "sim.labels": "labels: {path}",
    "run.days": "{value} days",
    "run.list_separator": ", ",
    "run.group_separator": "; ",
    "hint.no_window_rule": "hint: no window rule is enabled in these rules.",
    "hint.quiet": (
        "hint: no alert fired, although the input ({span}) covers every rule's warm-up: "
        "nothing left its band. Inject an incident to see one, e.g. "
        "`aftersales simulate --days 21 --incident wait_time_surge`."
    ),
    "hint.warmup": (
        "hint: no alert fired. Rules learn what is normal before they alert; history "
        "needed: {needs}."
    ),
    "hint.span": "this input spans {span}. ",
    "hint.try": (
        "hint: {span}Try a longer history, e.g. `aftersales simulate --days {days}` or "
        "`--scenario default` (two weeks with incidents), or replay your own older events "
        "(backfill) before the period of interest."
    ),
    # Chat messages of `aftersales notify-bridge` (DingTalk, Feishu).
    "notify.title": "[{status}] {severity} \u00b7 {what}",
    "notify.title_many": "[{status}] {count} alerts \u00b7 {what}",
    "notify.summary": "Summary",
    "notify.runbook": "Runbook",
    "notify.started": "Started",
    "notify.band_link": "Band in Grafana",
    "notify.more": "\u2026 and {count} more",
    # The HTML report of `aftersales replay --report`.
    "report.lang": "en",
    "report.title": "aftersales replay report",
    "report.window_alerts": "Window alerts (firing / resolved)",
    "report.event_alerts": "Per-event alerts",
    "report.outreach": "Outreach: riskiest open orders",
    "report.outreach_none": "No open order was scored.",
    "report.col_order": "order",
    "report.col_score": "score",
    "report.col_level": "level",
    "report.col_stage": "stage",
    "report.col_customer": "customer",
    "report.col_action": "suggested action",
    "report.col_factors": "main factors",
    "report.alerting_series": "Alerting series",
    "report.showing_series": (
        "Showing {shown} of {total} series with an episode, most severe first "
        "(at most {cap} charts)."
    ),
    "report.series_count": "{shown} series with an episode, most severe first.",
    "report.no_episode": "No window rule opened an episode.",
    "report.per_rule": "Alerts per rule",
    "report.no_alerts": "No alerts.",
    "report.none": "None.",
    "report.input": "input",
    "report.rules": "rules",
    "report.events": "events",
    "report.events_value": "{lines} lines ({dead} dead-lettered), {partitions} partitions",
    "report.windows": "windows",
    "report.windows_value": "{start} \u2192 {end} {zone} (first start \u2192 last end)",
    "report.alerts": "alerts",
    "report.col_rule": "rule",
    "report.col_firing": "firing",
    "report.col_resolved": "resolved",
    "report.col_status": "status",
    "report.col_dimension": "dimension",
    "report.col_key": "key",
    "report.col_severity": "severity",
    "report.col_time": "time",
    "report.col_window_end": "window_end",
    "report.col_observed": "observed",
    "report.col_baseline": "baseline",
    "report.col_band": "band",
    "report.col_summary": "summary",
    "report.col_runbook": "runbook",
    "report.status.firing": "firing",
    "report.status.resolved": "resolved",
    "report.status_event": "event",
    "report.first_rows": (
        "Showing the first {shown} of {total} alerts; the full list is in the alerts output."
    ),
    "report.legend_observed": "observed",
    "report.legend_baseline": "baseline",
    "report.legend_band": "band lower\u2013upper",
    "report.legend_episode": "episode (firing \u2192 resolved)",
    "report.legend_hot": "alerting window",
    "report.no_closes": "No window closes recorded.",
    "report.zoom": "Zoom: {start} \u2192 {end} {zone}",
    "report.episode_tip": "episode {start} \u2192 {end} {zone}",
    "report.axis_time": "window end ({zone})",
    "report.zoom_title": "{title} (zoom)",
}
