"""notify-bridge: signatures, the Alertmanager payload, message bodies and the HTTP service
(in process, against the signature-checking stubs in tests/notify_stubs.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from alerts.locales import catalogue
from streams.exceptions import ConfigError
from streams.notify.bridge import Target, build_app, build_targets
from streams.notify.messages import MessageStyle, band_url, dingtalk_message, feishu_card, title
from streams.notify.payload import PayloadError, parse_notification
from streams.notify.signing import dingtalk_sign, dingtalk_url, feishu_sign
from streams.runtime.config import Settings
from tests.notify_stubs import (
    dingtalk_expected_sign,
    dingtalk_stub,
    feishu_expected_sign,
    feishu_stub,
    serve,
)

SUMMARY = "SKU SKU-1 的退货率为 31.2%，正常值 5.0%，为平时的 6.2 倍，基于 1,204 单签收。"
RUNBOOK = "检查SKU SKU-1 的尺码表、图片和详情描述。"


def alert(**labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "AftersalesAnomaly",
            "severity": "critical",
            "rule": "return_rate",
            "dimension": "sku",
            "key": "SKU-1",
            **labels,
        },
        "annotations": {"summary": SUMMARY, "runbook": RUNBOOK},
        "startsAt": "2026-11-02T02:15:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "abc",
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "dingtalk",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) or [alert()],
    }


def style(locale: str = "zh_CN", grafana: str = "http://grafana:3000") -> MessageStyle:
    return MessageStyle(catalogue(locale), 8 * 3_600_000, grafana)


class TestSigning:
    def test_dingtalk_known_answer(self) -> None:
        """The DingTalk signature matches a published test vector (dingding crate)."""
        assert (
            dingtalk_sign("secret", 1700000000000) == "OuzzJR5+xZ4/EYwqtNt6sMYZQMTa/HEGvc9miJe7XzY="
        )

    def test_dingtalk_url_keeps_token_and_encodes_sign(self) -> None:
        """The signed URL keeps access_token and carries timestamp and the URL-encoded sign."""
        url = dingtalk_url("https://x/robot/send?access_token=t", "s", 1_700_000_000_000)
        assert url.startswith("https://x/robot/send?access_token=t&timestamp=1700000000000&sign=")
        assert "+" not in url.split("sign=")[1] and "/" not in url.split("sign=")[1]

    def test_dingtalk_matches_independent_derivation(self) -> None:
        """The stub's own derivation agrees (and a different secret does not)."""
        assert dingtalk_sign("SECabc", 1) == dingtalk_expected_sign("SECabc", "1")
        assert dingtalk_sign("SECabc", 1) != dingtalk_expected_sign("SECabd", "1")

    def test_feishu_matches_independent_derivation(self) -> None:
        """Feishu's key is timestamp + newline + secret, the message empty."""
        assert feishu_sign("k", 1_700_000_000) == feishu_expected_sign("k", "1700000000")
        assert feishu_sign("k", 1_700_000_000) != feishu_expected_sign("k", "1700000001")


class TestPayload:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b"not json", "body"),
            (b"[]", "body"),
            (json.dumps({"version": "3", "alerts": [alert()]}).encode(), "version"),
            (b"{}", "alerts"),
            (json.dumps({"alerts": []}).encode(), "alerts"),
            (json.dumps({"alerts": ["x"]}).encode(), "alerts[0]"),
            (json.dumps({"alerts": [{**alert(), "labels": {}}]}).encode(), "alerts[0].labels"),
            (
                json.dumps({"alerts": [{**alert(), "labels": {"a": 1}}]}).encode(),
                "alerts[0].labels",
            ),
            (json.dumps({"alerts": [{**alert(), "status": "odd"}]}).encode(), "alerts[0].status"),
            (
                json.dumps({"alerts": [{**alert(), "startsAt": "yesterday"}]}).encode(),
                "alerts[0].startsAt",
            ),
            (json.dumps({"alerts": [alert()], "externalURL": 5}).encode(), "externalURL"),
        ],
    )
    def test_refused_naming_the_field(self, body: bytes, field: str) -> None:
        """Each malformed body is refused with the offending field named."""
        with pytest.raises(PayloadError) as info:
            parse_notification(body)
        assert info.value.field == field

    def test_reads_alertmanager_body(self) -> None:
        """A real-shaped Alertmanager body parses into alerts with labels and annotations."""
        note = parse_notification(json.dumps(payload()).encode())
        assert note.status == "firing" and note.alerts[0].annotations["summary"] == SUMMARY
        assert note.alerts[0].starts_at == datetime(2026, 11, 2, 2, 15, tzinfo=UTC)


class TestMessages:
    def test_chinese_title(self) -> None:
        """The title names status, severity, rule and series in Chinese."""
        note = parse_notification(json.dumps(payload()).encode())
        assert title(note, style()) == "【告警】严重 · 退货率 · SKU SKU-1"

    def test_band_link(self) -> None:
        """The Grafana link opens the band view on the alert's series."""
        note = parse_notification(json.dumps(payload(alert(key="A B"))).encode())
        assert band_url(note.alerts[0], "http://grafana:3000/") == (
            "http://grafana:3000/d/aftersales-thresholds/?var-rule=return_rate"
            "&var-dimension=sku&var-key=A+B"
        )
        assert band_url(note.alerts[0], "") == ""

    def test_dingtalk_action_card_with_summary_runbook_and_shop_time(self) -> None:
        """DingTalk gets an actionCard: summary, runbook, start in UTC+8 and a Grafana button."""
        message = dingtalk_message(parse_notification(json.dumps(payload()).encode()), style())
        card = message["actionCard"]
        assert message["msgtype"] == "actionCard" and card["singleTitle"] == "在 Grafana 查看区间"
        assert f"摘要: {SUMMARY}" in card["text"] and f"处置建议: {RUNBOOK}" in card["text"]
        assert "开始时间: 2026-11-02 10:15 UTC+8" in card["text"]

    def test_dingtalk_markdown_without_grafana(self) -> None:
        """Without a Grafana URL the message is plain markdown."""
        message = dingtalk_message(
            parse_notification(json.dumps(payload()).encode()), style(grafana="")
        )
        assert message["msgtype"] == "markdown" and SUMMARY in message["markdown"]["text"]

    def test_feishu_card(self) -> None:
        """Feishu gets a red card for a critical alert, with the summary and a button."""
        card = feishu_card(parse_notification(json.dumps(payload()).encode()), style())["card"]
        assert card["header"]["template"] == "red"
        assert SUMMARY in card["elements"][0]["text"]["content"]
        assert card["elements"][-1]["actions"][0]["url"].startswith("http://grafana:3000/d/")

    def test_resolved_card_is_green(self) -> None:
        """A resolved notification is a green card titled 恢复."""
        body = {**payload({**alert(), "status": "resolved"}), "status": "resolved"}
        card = feishu_card(parse_notification(json.dumps(body).encode()), style())["card"]
        assert card["header"]["template"] == "green"
        assert card["header"]["title"]["content"].startswith("【恢复】")

    def test_long_groups_are_cut(self) -> None:
        """Only the first ten alerts are listed; the rest are counted."""
        note = parse_notification(
            json.dumps(payload(*[alert(key=f"K{i}") for i in range(13)])).encode()
        )
        text = dingtalk_message(note, style("en"))["actionCard"]["text"]
        assert "K9" in text and "K10" not in text and "and 3 more" in text


class TestTargets:
    def test_nothing_configured_is_refused(self) -> None:
        """Without any webhook the bridge refuses to start, naming the variables."""
        with pytest.raises(ConfigError, match="AFTERSALES_FEISHU_WEBHOOK"):
            build_targets(Settings.from_env({}))

    def test_secret_without_webhook_is_refused(self) -> None:
        """A secret for a platform without a webhook is a configuration error."""
        with pytest.raises(ConfigError, match="AFTERSALES_DINGTALK_WEBHOOK: required with"):
            build_targets(Settings.from_env({"AFTERSALES_DINGTALK_SECRET": "SEC1"}))

    def test_secret_from_file(self, tmp_path: Any) -> None:
        """The secret may come from a file (one trailing newline dropped)."""
        path = tmp_path / "secret"
        path.write_text("SECfile\n")
        settings = Settings.from_env(
            {
                "AFTERSALES_FEISHU_WEBHOOK": "http://x/hook",
                "AFTERSALES_FEISHU_SECRET_FILE": str(path),
            }
        )
        assert build_targets(settings)["feishu"].secret == "SECfile"

    def test_secret_files_are_not_unknown_variables(self) -> None:
        """The *_SECRET_FILE variables are known, so no typo warning names them."""
        from streams.runtime.config import unknown_variables

        assert (
            unknown_variables(
                {"AFTERSALES_DINGTALK_SECRET_FILE": "/s", "AFTERSALES_FEISHU_SECRET_FILE": "/s"}
            )
            == []
        )

    def test_both_secret_and_file_refused(self, tmp_path: Any) -> None:
        """Setting a secret and its file at once is refused naming the file variable."""
        path = tmp_path / "secret"
        path.write_text("x")
        with pytest.raises(ConfigError, match="AFTERSALES_DINGTALK_SECRET_FILE: set either"):
            Settings.from_env(
                {"AFTERSALES_DINGTALK_SECRET": "a", "AFTERSALES_DINGTALK_SECRET_FILE": str(path)}
            )

    def test_webhook_not_shown_in_errors(self) -> None:
        """A malformed webhook URL is refused without echoing its token."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AFTERSALES_DINGTALK_WEBHOOK": "oapi?access_token=TOPSECRET"})
        assert "TOPSECRET" not in str(info.value)


@pytest.fixture
async def stubs() -> AsyncIterator[dict[str, Any]]:
    with (
        serve(dingtalk_stub("tok", "SECright")) as ding,
        serve(feishu_stub("hook1", "fsright")) as feishu,
    ):
        yield {"dingtalk": ding, "feishu": feishu}


async def client_for(
    stubs: dict[str, Any], *, ding_secret: str = "SECright", retries: int = 2
) -> TestClient:
    settings = Settings.from_env(
        {
            "AFTERSALES_DINGTALK_WEBHOOK": f"{stubs['dingtalk'].url}/robot/send?access_token=tok",
            "AFTERSALES_DINGTALK_SECRET": ding_secret,
            "AFTERSALES_FEISHU_WEBHOOK": f"{stubs['feishu'].url}/open-apis/bot/v2/hook/hook1",
            "AFTERSALES_FEISHU_SECRET": "fsright",
            "AFTERSALES_BRIDGE_RETRIES": str(retries),
            "AFTERSALES_LOCALE": "zh_CN",
        }
    )
    app = build_app(settings, build_targets(settings), utc_offset_ms=8 * 3_600_000, backoff_s=0.01)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


class TestBridgeService:
    @pytest.mark.parametrize("target", ["dingtalk", "feishu"])
    async def test_delivers_signed(self, stubs: dict[str, Any], target: str) -> None:
        """A notification reaches the platform, signed, with the Chinese summary."""
        client = await client_for(stubs)
        try:
            response = await client.post(f"/{target}", json=payload())
            assert response.status == 200, await response.text()
        finally:
            await client.close()
        accepted = stubs[target].log.accepted
        assert len(accepted) == 1 and SUMMARY in json.dumps(accepted[0], ensure_ascii=False)

    async def test_bad_payload_is_400(self, stubs: dict[str, Any]) -> None:
        """A body that is not an Alertmanager notification gets 400 naming the field."""
        client = await client_for(stubs)
        try:
            response = await client.post("/dingtalk", data=b'{"alerts": [{"labels": 3}]}')
            assert response.status == 400
            assert "alerts[0].labels" in (await response.json())["error"]
        finally:
            await client.close()
        assert stubs["dingtalk"].log.accepted == []

    async def test_wrong_secret_is_rejected_and_reported(self, stubs: dict[str, Any]) -> None:
        """With a wrong secret DingTalk refuses every attempt; the bridge answers 502 after
        the bounded retries so Alertmanager retries later."""
        client = await client_for(stubs, ding_secret="SECwrong", retries=2)
        try:
            response = await client.post("/dingtalk", json=payload())
            assert response.status == 502
            assert "sign not match" in (await response.json())["error"]
        finally:
            await client.close()
        assert stubs["dingtalk"].log.refused == ["sign"] * 3
        assert stubs["dingtalk"].log.accepted == []

    async def test_transient_failure_is_retried(self, stubs: dict[str, Any]) -> None:
        """Two HTTP 500 answers, then success: delivered once, with retries."""
        stubs["feishu"].log.fail_first = 2
        client = await client_for(stubs, retries=2)
        try:
            response = await client.post("/feishu", json=payload())
            assert response.status == 200
        finally:
            await client.close()
        assert len(stubs["feishu"].log.accepted) == 1

    async def test_health_lists_targets(self, stubs: dict[str, Any]) -> None:
        """/health answers with the configured platforms."""
        client = await client_for(stubs)
        try:
            response = await client.get("/health")
            assert (await response.json())["targets"] == ["dingtalk", "feishu"]
        finally:
            await client.close()


def test_target_problem_reads_both_answer_shapes() -> None:
    """errcode (DingTalk), code (Feishu) and StatusCode (older Feishu) are all understood."""
    target = Target("feishu", "http://x", "")
    assert target.problem(200, {"code": 0}) is None
    assert target.problem(200, {"StatusCode": 0}) is None
    assert (
        target.problem(200, {"errcode": 310000, "errmsg": "sign not match"})
        == "code 310000: sign not match"
    )
    assert target.problem(503, {}) == "HTTP 503"


class TestCommand:
    @pytest.mark.parametrize(
        ("env", "variable"),
        [
            ({}, "AFTERSALES_DINGTALK_WEBHOOK"),
            ({"AFTERSALES_FEISHU_SECRET": "s"}, "AFTERSALES_FEISHU_WEBHOOK"),
            (
                {"AFTERSALES_FEISHU_WEBHOOK": "http://x/h", "AFTERSALES_BRIDGE_PORT": "70000"},
                "AFTERSALES_BRIDGE_PORT",
            ),
            (
                {"AFTERSALES_FEISHU_WEBHOOK": "http://x/h", "AFTERSALES_BRIDGE_RETRIES": "99"},
                "AFTERSALES_BRIDGE_RETRIES",
            ),
        ],
    )
    def test_bad_configuration_is_one_line(self, env: dict[str, str], variable: str) -> None:
        """`aftersales notify-bridge` refuses a bad configuration in one line naming it."""
        from click.testing import CliRunner

        from streams.cli.main import main

        clean = dict.fromkeys(
            (
                "AFTERSALES_DINGTALK_WEBHOOK",
                "AFTERSALES_DINGTALK_SECRET",
                "AFTERSALES_FEISHU_WEBHOOK",
                "AFTERSALES_FEISHU_SECRET",
            ),
            "",
        )
        result = CliRunner().invoke(main, ["notify-bridge"], env={**clean, **env})
        assert result.exit_code == 2
        assert f"invalid configuration: {variable}" in result.output
        assert "Traceback" not in result.output
