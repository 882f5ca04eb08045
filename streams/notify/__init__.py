"""``aftersales notify-bridge``: Alertmanager webhooks to DingTalk and Feishu (Lark) robots.

Modules: :mod:`~streams.notify.signing` (the vendors' request signatures, pure),
:mod:`~streams.notify.payload` (the Alertmanager webhook body, validated),
:mod:`~streams.notify.messages` (DingTalk markdown/actionCard and Feishu cards, pure),
:mod:`~streams.notify.bridge` (the HTTP service: receive, sign, deliver with retries).
WeCom needs no bridge: Alertmanager's ``wechat_configs`` (deploy/alertmanager/).
"""
