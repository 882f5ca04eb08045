"""Settings from the environment: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from streams.config import Settings
from streams.exceptions import ConfigError


class TestSettings:
    def test_defaults_are_valid(self) -> None:
        """An empty environment gives the documented defaults."""
        settings = Settings.from_env({})
        assert settings.kafka_bootstrap_servers == "localhost:9092"
        assert settings.topic("orders") == "aftersales.orders"
        assert settings.web_port == 6066

    def test_reads_variables(self) -> None:
        """Each setting is read from its variable and parsed to its type."""
        settings = Settings.from_env({
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9093",
            "AFTERSALES_TOPIC_PREFIX": "shop1.",
            "AFTERSALES_WEB_PORT": "7000",
            "AFTERSALES_LOG_FORMAT": "JSON",
        })
        assert settings.kafka_bootstrap_servers == "k1:9092,k2:9093"
        assert settings.topic("alerts") == "shop1.alerts"
        assert settings.web_port == 7000
        assert settings.log_format == "json"

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("KAFKA_BOOTSTRAP_SERVERS", "no-port"),
            ("KAFKA_BOOTSTRAP_SERVERS", "host:99999"),
            ("AFTERSALES_WEB_PORT", "eighty"),
            ("AFTERSALES_WEB_PORT", "70000"),
            ("AFTERSALES_TOPIC_PREFIX", "bad prefix/"),
            ("AFTERSALES_LOG_FORMAT", "xml"),
            ("AFTERSALES_LOG_LEVEL", "LOUD"),
            ("AFTERSALES_TOPIC_PARTITIONS", "0"),
            ("AFTERSALES_MAX_EVENT_BYTES", "10"),
            ("AFTERSALES_HEARTBEAT_INTERVAL_MS", "60000"),
        ],
    )
    def test_bad_value_names_the_variable(self, variable: str, value: str) -> None:
        """A bad value is refused with an error that names its variable."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({variable: value})
        assert info.value.field == variable
        assert variable in str(info.value)

    def test_empty_value_means_default(self) -> None:
        """An empty variable falls back to the default instead of failing."""
        assert Settings.from_env({"AFTERSALES_WEB_PORT": ""}).web_port == 6066
