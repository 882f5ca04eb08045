"""简体中文文本（``zh_CN``）：与 :mod:`alerts.locales.en` 键与占位符一一对应。

Simplified Chinese texts, key for key and placeholder for placeholder the same as
the English catalogue (checked by ``tests/unit/alerts/test_locales.py``).
"""

from __future__ import annotations

from typing import Final

TEXTS: Final[dict[str, str]] = {
    "rule.order_volume.label": "订单量",
    "rule.order_volume.sample_one": "",
    "rule.order_volume.sample_many": "",
    "rule.order_volume.runbook": (
        "检查{dimension} {key} 的下单、支付和店铺页面是否报错或中断；如果订单激增，"
        "核对库存和快递运力。"
    ),
    "rule.order_outlier.label": "订单金额",
    "rule.order_outlier.sample_one": "",
    "rule.order_outlier.sample_many": "",
    "rule.order_outlier.runbook": (
        "立即核对订单 {key} 中商品的价格和库存设置；发货前先拦截该订单人工审核。"
    ),
    "rule.customer_order_burst.label": "下单次数",
    "rule.customer_order_burst.sample_one": "",
    "rule.customer_order_burst.sample_many": "",
    "rule.customer_order_burst.runbook": (
        "发货前审查{dimension} {key} 的订单是否为刷单、欺诈或机器人；若像误操作，请联系客户。"
    ),
    "rule.return_rate.label": "退货率",
    "rule.return_rate.sample_one": "单签收",
    "rule.return_rate.sample_many": "单签收",
    "rule.return_rate.runbook": (
        "检查{dimension} {key} 的尺码表、图片和详情描述；查看退货原因，在买家退货前主动联系"
        "近期买家。"
    ),
    "rule.return_rate.runbook_route": (
        "向快递公司核实{dimension} {key} 的包裹破损或延误，检查仓库的打包；在买家退货前主动"
        "联系包裹在途的客户。"
    ),
    "rule.complaint_rate.label": "投诉率",
    "rule.complaint_rate.sample_one": "单签收",
    "rule.complaint_rate.sample_many": "单签收",
    "rule.complaint_rate.runbook": (
        "阅读{dimension} {key} 的最新投诉；若某一原因占多数，升级给快递公司或供应商，"
        "并主动联系受影响的客户。"
    ),
    "rule.complaint_rate.runbook_route": (
        "阅读{dimension} {key} 的最新投诉，把包裹破损或延误升级给快递公司，并主动联系受影响的客户。"
    ),
    "rule.complaint_volume.label": "投诉量",
    "rule.complaint_volume.sample_one": "",
    "rule.complaint_volume.sample_many": "",
    "rule.complaint_volume.runbook": (
        "按{dimension} {key} 筛选投诉队列，找出共同的订单、快递或商品，并给客服团队准备统一答复。"
    ),
    "rule.wait_time_p90.label": "90 分位等待时长",
    "rule.wait_time_p90.sample_one": "个工单",
    "rule.wait_time_p90.sample_many": "个工单",
    "rule.wait_time_p90.runbook": (
        "给 {key} 队列调配客服，开启回拨或告知预计等待时间的自动回复，并排查是否有事故"
        "导致咨询量上升。"
    ),
    "rule.wait_sla_breach_share.label": "超出 SLA 的等待占比",
    "rule.wait_sla_breach_share.sample_one": "个工单",
    "rule.wait_sla_breach_share.sample_many": "个工单",
    "rule.wait_sla_breach_share.runbook": (
        "{key} 队列超出 SLA 的等待比平时多：增派客服或分流到其他团队，并告知等待中的客户预计时间。"
    ),
    "rule.handle_time_p90.label": "第 90 百分位处理时长",
    "rule.handle_time_p90.sample_one": "个工单",
    "rule.handle_time_p90.sample_many": "个工单",
    "rule.handle_time_p90.runbook": (
        "查明 {key} 队列工单变慢的原因（新问题类型、工具故障或新客服），发布标准答复，"
        "并调派资深客服。"
    ),
    "rule.low_satisfaction_share.label": "低满意度评分占比",
    "rule.low_satisfaction_share.sample_one": "个评分",
    "rule.low_satisfaction_share.sample_many": "个评分",
    "rule.low_satisfaction_share.runbook": (
        "与客服主管一起查看 {key} 队列最新的低分工单，在客户投诉或流失前回访。"
    ),
    "rule.bad_review_rate.label": "差评占比",
    "rule.bad_review_rate.sample_one": "条评价",
    "rule.bad_review_rate.sample_many": "条评价",
    "rule.bad_review_rate.runbook": (
        "阅读{dimension} {key} 的最新差评，与品类经理核查商品、详情页和批次，并回复评价者。"
    ),
    "rule.cancellation_rate.label": "取消率",
    "rule.cancellation_rate.sample_one": "个订单",
    "rule.cancellation_rate.sample_many": "个订单",
    "rule.cancellation_rate.runbook": (
        "查明{dimension} {key} 订单被取消的原因（风控、价格错误、库存或配送承诺），"
        "在更多订单流失前消除原因。"
    ),
    "rule.delivery_time_p90.label": "第 90 百分位配送时长",
    "rule.delivery_time_p90.sample_one": "个包裹",
    "rule.delivery_time_p90.sample_many": "个包裹",
    "rule.delivery_time_p90.runbook": (
        "向快递公司询问{dimension} {key} 的情况（中转积压、罢工、天气），把新包裹转给其他"
        "快递公司，并提醒在途包裹的客户。"
    ),
    "rule.late_delivery_share.label": "延迟送达占比",
    "rule.late_delivery_share.sample_one": "个包裹",
    "rule.late_delivery_share.sample_many": "个包裹",
    "rule.late_delivery_share.runbook": (
        "{dimension} {key} 晚于承诺日期送达的包裹增多：核查快递积压，延长结账页显示的承诺"
        "送达日期，并向等待中的客户致歉。"
    ),
    "rule.lost_parcel.label": "在途时长",
    "rule.lost_parcel.sample_one": "",
    "rule.lost_parcel.sample_many": "",
    "rule.lost_parcel.runbook": ("请快递公司追踪订单 {key}；告知客户，若找不到则补发或退款。"),
    "rule.refund_delay_p90.label": "第 90 百分位退款时长",
    "rule.refund_delay_p90.sample_one": "笔退款",
    "rule.refund_delay_p90.sample_many": "笔退款",
    "rule.refund_delay_p90.runbook": (
        "{dimension} {key} 的退款比平时慢：检查退款队列和支付服务商，清理积压，并告知等待的"
        "客户预计时间。"
    ),
    "rule.frequent_returner.label": "30 天退货次数",
    "rule.frequent_returner.sample_one": "",
    "rule.frequent_returner.sample_many": "",
    "rule.frequent_returner.runbook": (
        "审查{dimension} {key} 近 30 天的退货：是否穿后退货、空包或调包，或尺码问题；"
        "退回商品验货前暂缓退款，并在下一单发货前联系该客户。"
    ),
    "rule.shared_address.label": "不同客户数",
    "rule.shared_address.sample_one": "",
    "rule.shared_address.sample_many": "",
    "rule.shared_address.runbook": (
        "今天有多名客户向{dimension} {key} 下单：核实是否为转运或代收地址，拦截其未发货订单"
        "人工审核，并比对这些账户的支付信息。"
    ),
    "context.most_affected": "影响最大：{parts}。",
    "context.orders": "受影响订单：{orders}。",
    "context.more": " 等另外 {n} 个",
    "context.status": "类型",
    "sku.label.transit": "在途时长",
    "lost.summary": "快递公司 {key} 有 {count} {noun}在途 {observed} 仍未送达（通常 p90 为 {baseline}）：{orders}。",
    "lost.runbook": "立即请快递公司 {key} 追踪超期包裹，告知客户，找不到的补发或退款：{orders}。",
    "sku.label.unit_price": "单价",
    "sku.label.quantity": "数量",
    "sku.side.down": "过低",
    "sku.side.up": "过高",
    "sku.order_one": "个订单",
    "sku.order_many": "个订单",
    "sku.summary": "商品 {sku} 的{label}为 {observed}，正常值为 {baseline}（{side}），涉及 {count} {noun}：{orders}。",
    "sku.runbook": (
        "立即在商品目录或价格源中更正商品 {sku} 的{label_lower}，在发货前拦截受影响订单，"
        "并决定是否履约。受影响订单：{orders}。"
    ),
    "rule.generic.runbook": (
        "查看{dimension} {key}：{rule} {direction}至 {observed}，正常值为 {baseline}；"
        "在客户察觉前找出变化原因。"
    ),
    "summary.sentence": "{where}{label}为 {observed}",
    "summary.where_total": "整体",
    "summary.where_one": "{dimension} {key} 的",
    "summary.where_part": "{dimension} {key}",
    "summary.where_parts": "{parts} 的",
    "summary.part_separator": " / ",
    "summary.baseline": "，正常值 {baseline}",
    "summary.band": "（正常区间 {lower}\u2013{upper}）",
    "summary.band_upper": "（上限 {upper}）",
    "summary.band_lower": "（下限 {lower}）",
    "summary.times": "，为平时的 {ratio} 倍",
    "summary.above": "，比平时高 {percent}%",
    "summary.below": "，比平时低 {percent}%",
    "summary.sample": "，基于 {count} {noun}",
    "summary.sustained_above": "；本窗口仍在区间内，但已连续多个窗口高于平时（持续性证据）",
    "summary.sustained_below": "；本窗口仍在区间内，但已连续多个窗口低于平时（持续性证据）",
    "summary.decayed_above": (
        "；本窗口未超上限，但近期订单累计 {decayed} 单，超过上限 {limit}"
        "（衰减计数：每单权重每 {half_life} 分钟减半）"
    ),
    "summary.end": "。",
    "dimension.total": "全店",
    "dimension.order": "订单",
    "dimension.customer": "客户",
    "dimension.address": "地址",
    "dimension.sku": "SKU",
    "dimension.category": "品类",
    "dimension.region": "地区",
    "dimension.carrier": "快递公司",
    "dimension.channel": "渠道",
    "dimension.reason": "原因",
    "dimension.queue": "队列",
    "direction.up": "上升",
    "direction.down": "下降",
    "status.firing": "告警",
    "status.resolved": "恢复",
    "severity.info": "提示",
    "severity.warning": "警告",
    "severity.critical": "严重",
    "value.missing": "无",
    "unit.amount": "\u00a5{value}",
    "unit.s": "{value} 秒",
    "unit.min": "{value} 分钟",
    "unit.h": "{value} 小时",
    "time.format": "%Y-%m-%d %H:%M",
    "time.zone": "UTC{offset}",
    "time.tick_day": "%m月%d日",
    "time.tick_date": "%m月%d日",
    "console.sustained": "（持续性证据）",
    "console.line": (
        "{time} {status} {severity} {rule} {where} 观测 {observed}，正常 {baseline}，"
        "区间 [{lower} .. {upper}]，得分 {score}{sustained}，编号 {alert_id}"
    ),
    "start.failed": "无法启动：{reason}",
    "broker.unreachable": (
        "无法连接到 {bootstrap}（{how}）：{cause}；请确认 broker 已启动，且 {check} 正确。"
    ),
    "broker.check_plain": "KAFKA_BOOTSTRAP_SERVERS",
    "broker.check_secured": "KAFKA_BOOTSTRAP_SERVERS 及 KAFKA_SECURITY_PROTOCOL/SASL/SSL 设置",
    "demo.start": (
        "aftersales 演示：broker {broker}，指标 {metrics}，{history} 条历史事件，随后以 {speed} "
        "倍速实时回放，+5 分钟价格错误、+10 分钟客户集中下单、+20 分钟 'returns' 队列等待激增。"
        "按 Ctrl-C 停止。"
    ),
    "demo.flow": (
        "[流量] 有效事件：订单={orders} 投诉={complaints} 等待={wait_times} | 死信={dead} | "
        "告警={alerts} | 事件时间 {time}"
    ),
    "demo.stopped": "aftersales 演示：已停止；broker 和 worker 已关闭。",
    "progress.running": "{label}：{count} 条事件  {rate}",
    "progress.eta": "  {done}  预计剩余 {eta}",
    "progress.done": "{label}：{count} 条事件  {rate}  完成，用时 {elapsed}",
    "progress.rate": "{rate} 条/秒",
    "run.replay": "回放：{events} 条事件，用时 {seconds} 秒{rate}",
    "run.rate": "（每秒 {rate} 条）",
    "run.alerts": "告警：触发 {firing} 条，恢复 {resolved} 条",
    "run.rule": "规则",
    "run.dead_letters": "死信：{count} 条",
    "backfill.done": (
        "回填：{lines} 行，用时 {seconds} 秒；已写入 {closers} 个 closer 快照（{bytes} 字节）"
    ),
    "backfill.alerts": (
        "历史告警：触发 {firing} 条，恢复 {resolved} 条（未发布）；仍未恢复 {open} 条，已发布"
    ),
    "backfill.hand_over": (
        "实时输入主题必须包含 {time} 起的全部事件（可以重叠；缺口会被当作没有流量）"
    ),
    "backfill.gaps": (
        "警告：{count} 个输入分区在该时间之后才开始或为空（{partitions}）：从那时到其第一条事件"
        "之间的窗口将被当作没有流量（空窗口，可能触发下降告警）"
    ),
    "backfill.more": "{shown} 等另外 {count} 个",
    "explain.none": "{events} 中没有关闭任何 {series} 的窗口",
    "feedback.recorded": "已记录：{series} {alert_id} {verdict}",
    "outreach.none": "输入中没有未完成的订单",
    "sim.summary": "模拟：{events} 条事件{where}，用时 {seconds} 秒（{topics}）",
    "sim.to_file": "，写入 {path}",
    "sim.to_stdout": "，写入标准输出",
    "sim.to_kafka": "，写入 Kafka",
    "sim.incidents": "注入事件：{count} 个",
    "sim.incident": "  {type} 开始于 {start}",
    "sim.no_incidents": "注入事件：无（可加 --incident TYPE 或 --scenario default）",
    "sim.labels": "标签：{path}",
    "run.days": "{value} 天",
    "run.list_separator": "、",
    "run.group_separator": "；",
    "hint.no_window_rule": "提示：这些规则中没有启用任何窗口规则。",
    "hint.quiet": (
        "提示：没有触发告警，而输入（{span}）已覆盖所有规则的预热期：没有指标超出区间。"
        "注入一个事件即可看到告警，例如 "
        "`aftersales simulate --days 21 --incident wait_time_surge`。"
    ),
    "hint.warmup": "提示：没有触发告警。规则先学习什么是正常，然后才会告警；所需历史：{needs}。",
    "hint.span": "本次输入覆盖 {span}。",
    "hint.try": (
        "提示：{span}请使用更长的历史，例如 `aftersales simulate --days {days}` 或 "
        "`--scenario default`（两周，含事件），或先回放你自己更早的事件（backfill）。"
    ),
    "notify.title": "【{status}】{severity} \u00b7 {what}",
    "notify.title_many": "【{status}】{count} 条告警 \u00b7 {what}",
    "notify.summary": "摘要",
    "notify.runbook": "处置建议",
    "notify.started": "开始时间",
    "notify.band_link": "在 Grafana 查看区间",
    "notify.more": "\u2026\u2026 另有 {count} 条",
    "report.lang": "zh-CN",
    "report.title": "aftersales 回放报告",
    "report.window_alerts": "窗口告警（触发 / 恢复）",
    "report.event_alerts": "单事件告警",
    "report.outreach": "主动联系：风险最高的未结订单",
    "report.outreach_none": "没有被评分的未结订单。",
    "report.col_order": "订单",
    "report.col_score": "分数",
    "report.col_level": "等级",
    "report.col_stage": "阶段",
    "report.col_customer": "客户",
    "report.col_action": "建议行动",
    "report.col_factors": "主要因素",
    "report.alerting_series": "告警序列",
    "report.showing_series": "显示 {total} 个有告警事件的序列中的 {shown} 个，最严重的在前（最多 {cap} 张图）。",
    "report.series_count": "{shown} 个序列有告警事件，最严重的在前。",
    "report.no_episode": "没有窗口规则产生告警事件。",
    "report.per_rule": "各规则告警数",
    "report.no_alerts": "没有告警。",
    "report.none": "无。",
    "report.input": "输入",
    "report.rules": "规则",
    "report.events": "事件",
    "report.events_value": "{lines} 行（{dead} 条进入死信），{partitions} 个分区",
    "report.windows": "窗口",
    "report.windows_value": "{start} \u2192 {end} {zone}（首个开始 \u2192 最后结束）",
    "report.alerts": "告警",
    "report.col_rule": "规则",
    "report.col_firing": "触发",
    "report.col_resolved": "恢复",
    "report.col_status": "状态",
    "report.col_dimension": "维度",
    "report.col_key": "取值",
    "report.col_severity": "级别",
    "report.col_time": "时间",
    "report.col_window_end": "窗口结束",
    "report.col_observed": "观测值",
    "report.col_baseline": "基线",
    "report.col_band": "区间",
    "report.col_summary": "摘要",
    "report.col_runbook": "处置建议",
    "report.status.firing": "触发",
    "report.status.resolved": "恢复",
    "report.status_event": "事件",
    "report.first_rows": "仅显示 {total} 条告警中的前 {shown} 条；完整列表见告警输出。",
    "report.legend_observed": "观测值",
    "report.legend_baseline": "基线",
    "report.legend_band": "区间 下限\u2013上限",
    "report.legend_episode": "告警事件（触发 \u2192 恢复）",
    "report.legend_hot": "告警窗口",
    "report.no_closes": "没有记录到窗口关闭。",
    "report.zoom": "放大：{start} \u2192 {end} {zone}",
    "report.episode_tip": "告警事件 {start} \u2192 {end} {zone}",
    "report.axis_time": "窗口结束（{zone}）",
    "report.zoom_title": "{title}（放大）",
}
