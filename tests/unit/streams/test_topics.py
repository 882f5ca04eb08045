"""Topic creation: configured replication, broker defaults, and failures that stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from click.testing import CliRunner

import streams.runtime.topics as topics_module
from alerts.locales import catalogue
from streams.cli.main import main
from streams.exceptions import TopicError
from streams.runtime.config import Settings
from streams.runtime.topics import BrokerUnreachable, TopicNames, ensure_topics, new_topic
from tests.worker_process import child_env


class FakeAdmin:
    """Answers CreateTopics from a table of error codes; records every request."""

    answers: dict[str, list[int]] = {}
    requests: list[list[NewTopic]] = []
    start_error: Exception | None = None
    brokers = 5

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._client = SimpleNamespace(
            cluster=SimpleNamespace(brokers=lambda: set(range(FakeAdmin.brokers)))
        )

    async def start(self) -> None:
        if FakeAdmin.start_error is not None:
            raise FakeAdmin.start_error

    async def close(self) -> None:
        pass

    async def create_topics(self, topics: list[NewTopic]) -> Any:
        FakeAdmin.requests.append([_copy(t) for t in topics])
        errors = []
        for topic in topics:
            codes = FakeAdmin.answers.get(topic.name, [0])
            errors.append((topic.name, codes.pop(0) if len(codes) > 1 else codes[0], "no"))
        return SimpleNamespace(topic_errors=errors)


def _copy(topic: NewTopic) -> NewTopic:
    copy = NewTopic(topic.name, topic.num_partitions, 1, topic_configs=dict(topic.topic_configs))
    copy.replication_factor = topic.replication_factor
    return copy


@pytest.fixture
def fake_admin(monkeypatch: pytest.MonkeyPatch) -> type[FakeAdmin]:
    FakeAdmin.answers, FakeAdmin.requests, FakeAdmin.start_error = {}, [], None
    monkeypatch.setattr(topics_module, "AIOKafkaAdminClient", FakeAdmin)
    return FakeAdmin


def wire(topic: NewTopic) -> tuple[Any, ...]:
    """The tuple aiokafka puts in the CreateTopics request."""
    return AIOKafkaAdminClient._convert_new_topic_request(topic)


class TestNewTopic:
    def test_default_sends_minus_one_and_no_min_insync(self) -> None:
        """By default the request asks for the broker's replication factor and ISR minimum."""
        name, partitions, replicas, _, configs = wire(new_topic(Settings(), "t", 4, {"a": "1"}))
        assert (name, partitions, replicas) == ("t", 4, -1)
        assert dict(configs) == {"a": "1"}

    def test_configured_values_are_sent(self) -> None:
        """Configured replication factor and min.insync.replicas reach the request."""
        settings = Settings(topic_replication_factor=3, topic_min_insync_replicas=2)
        _, _, replicas, _, configs = wire(new_topic(settings, "t", 4, {"a": "1"}))
        assert replicas == 3
        assert dict(configs) == {"a": "1", "min.insync.replicas": "2"}


class TestEnsureTopics:
    async def test_created_and_existing_topics_pass(self, fake_admin: type[FakeAdmin]) -> None:
        """New topics and topics that already exist (36) are both fine."""
        settings = Settings()
        names = TopicNames.from_settings(settings)
        fake_admin.answers = {names.alerts: [36]}
        await ensure_topics(settings, names)
        assert len(fake_admin.requests) == 1
        assert all(t.replication_factor == -1 for t in fake_admin.requests[0])

    async def test_refused_topic_stops_the_start(self, fake_admin: type[FakeAdmin]) -> None:
        """Any other error code raises TopicError naming the topic and the code."""
        settings = Settings()
        names = TopicNames.from_settings(settings)
        fake_admin.answers = {names.dead_letter: [44]}  # POLICY_VIOLATION
        with pytest.raises(TopicError, match=r"aftersales\.dead-letter: error 44"):
            await ensure_topics(settings, names)

    async def test_old_broker_refusing_default_gets_three_replicas(
        self, fake_admin: type[FakeAdmin]
    ) -> None:
        """A broker that refuses -1 (38) gets a retry with min(3, brokers) replicas."""
        settings = Settings()
        names = TopicNames.from_settings(settings)
        fake_admin.answers = {name: [38, 0] for name in (names.alerts, names.partials)}
        await ensure_topics(settings, names)
        retry = fake_admin.requests[1]
        assert sorted(t.name for t in retry) == sorted([names.alerts, names.partials])
        assert {t.replication_factor for t in retry} == {3}

    async def test_fallback_never_exceeds_the_brokers(self, fake_admin: type[FakeAdmin]) -> None:
        """On a one-broker cluster the fallback asks for one replica."""
        fake_admin.brokers = 1
        settings = Settings()
        names = TopicNames.from_settings(settings)
        fake_admin.answers = {names.alerts: [42, 0]}
        try:
            await ensure_topics(settings, names)
        finally:
            fake_admin.brokers = 5
        assert [t.replication_factor for t in fake_admin.requests[1]] == [1]

    async def test_explicit_factor_is_not_retried(self, fake_admin: type[FakeAdmin]) -> None:
        """A refused explicit replication factor is an error, not silently lowered."""
        settings = Settings(topic_replication_factor=3)
        names = TopicNames.from_settings(settings)
        fake_admin.answers = {names.alerts: [38]}
        with pytest.raises(TopicError, match="error 38"):
            await ensure_topics(settings, names)
        assert len(fake_admin.requests) == 1

    async def test_unreachable_broker_is_a_topic_error(self, fake_admin: type[FakeAdmin]) -> None:
        """A failed connection says where and with which protocol, and no password."""
        fake_admin.start_error = KafkaConnectionError("Unable to bootstrap")
        settings = Settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="svc",
            kafka_sasl_password="pw-123",
        )
        with pytest.raises(TopicError) as info:
            await ensure_topics(settings, TopicNames.from_settings(settings))
        assert "SASL_SSL, PLAIN as 'svc'" in str(info.value)
        assert "pw-123" not in str(info.value)

    @pytest.mark.parametrize(
        ("address", "shown"),
        [
            ("('127.0.0.1', 1, <AddressFamily.AF_INET: 2>)", "[127.0.0.1:1]"),
            ("('::1', 9092, <AddressFamily.AF_INET6: 10>)", "[[::1]:9092]"),
        ],
    )
    async def test_unreachable_broker_shows_host_port(
        self, fake_admin: type[FakeAdmin], address: str, shown: str
    ) -> None:
        """aiokafka's address tuples become ``host:port``: no Python repr in the line."""
        fake_admin.start_error = KafkaConnectionError(f"Unable to bootstrap from [{address}]")
        settings = Settings(kafka_bootstrap_servers="broker-a:9092")
        with pytest.raises(BrokerUnreachable) as info:
            await ensure_topics(settings, TopicNames.from_settings(settings))
        assert str(info.value) == (
            f"cannot connect to broker-a:9092 (PLAINTEXT): KafkaConnectionError: Unable to "
            f"bootstrap from {shown}; is the broker up, and is KAFKA_BOOTSTRAP_SERVERS right?"
        )

    @pytest.mark.parametrize(("secured", "names_security"), [(False, False), (True, True)])
    def test_unreachable_line_in_chinese(self, secured: bool, names_security: bool) -> None:
        """The line follows the locale's catalogue and names the variables to check."""
        error = BrokerUnreachable("broker-a:9092", "SSL", "OSError: refused", secured=secured)
        line = error.line(catalogue("zh_CN"))
        assert line.startswith("无法连接到 broker-a:9092（SSL）：OSError: refused")
        assert "KAFKA_BOOTSTRAP_SERVERS" in line
        assert ("KAFKA_SECURITY_PROTOCOL" in line) is names_security


class TestWorkerCommand:
    def test_unreachable_broker_exits_with_one_line(self) -> None:
        """`aftersales worker` with no broker exits 1 with a message, not a traceback."""
        result = CliRunner().invoke(
            main,
            ["worker"],
            env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "AFTERSALES_LOG_LEVEL": "CRITICAL"},
        )
        assert result.exit_code == 1
        assert "cannot start: cannot connect to 127.0.0.1:1 (PLAINTEXT)" in result.output
        assert "Traceback" not in result.output

    def test_unreachable_broker_is_one_line_naming_the_variable(self, tmp_path: Path) -> None:
        """The real command prints no traceback and no client log for an unreachable
        broker: one ``Error:`` line that names KAFKA_BOOTSTRAP_SERVERS."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_", "KAFKA_"))}
        env.update(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", AFTERSALES_PERSONAL_LABELS_KEY="k" * 32)
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli.main", "worker"],
            env=child_env(env),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: cannot start: cannot connect to 127.0.0.1:1")
        assert "KAFKA_BOOTSTRAP_SERVERS" in lines[0]
        assert "<" not in lines[0] and "AddressFamily" not in lines[0], lines[0]
        assert "Unable to bootstrap from [127.0.0.1:1]" in lines[0]

    def test_unreachable_broker_line_follows_the_locale(self) -> None:
        """Under ``AFTERSALES_LOCALE=zh_CN`` the line is Chinese and still names the variable."""
        result = CliRunner().invoke(
            main,
            ["worker"],
            env={
                "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                "AFTERSALES_LOCALE": "zh_CN",
                "AFTERSALES_LOG_LEVEL": "CRITICAL",
            },
        )
        assert result.exit_code == 1
        assert "无法启动：无法连接到 127.0.0.1:1（PLAINTEXT）" in result.output
        assert "KAFKA_BOOTSTRAP_SERVERS" in result.output

    def test_scheme_in_bootstrap_exits_with_config_error(self) -> None:
        """`SASL_SSL://host:9092` is refused before any connection, naming the variable."""
        result = CliRunner().invoke(
            main, ["worker"], env={"KAFKA_BOOTSTRAP_SERVERS": "SASL_SSL://broker:9092"}
        )
        assert result.exit_code == 2
        assert "KAFKA_BOOTSTRAP_SERVERS" in result.output
        assert "KAFKA_SECURITY_PROTOCOL" in result.output
