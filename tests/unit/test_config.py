"""Settings from the environment: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from dataclasses import fields

import pytest

from streams.config import Settings, env_name, unknown_variables
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


class TestSafeDefaults:
    def test_web_server_binds_loopback_by_default(self) -> None:
        """Without AFTERSALES_WEB_HOST, /metrics is reachable from this host only."""
        assert Settings.from_env({}).web_host == "127.0.0.1"

    def test_app_binds_the_configured_host(self) -> None:
        """The Faust app binds web_host (its own default would be every interface)."""
        from prometheus_client import CollectorRegistry

        from alerts.metrics import AlertMetrics
        from streams.app import create_app
        from streams.rules import load_rules
        from streams.worker import Worker

        for host in ("127.0.0.1", "0.0.0.0"):  # noqa: S104 - the explicit container setting
            settings = Settings.from_env({"AFTERSALES_WEB_HOST": host})
            worker = Worker(settings, load_rules(None), AlertMetrics.create(CollectorRegistry()))
            app = create_app(settings, worker, CollectorRegistry())
            assert app.conf.web_bind == host

    @pytest.mark.parametrize("value", ["local host", "127.0.0.1/8", "héte"])
    def test_bad_web_host_refused(self, value: str) -> None:
        """A host with spaces, slashes or non-ASCII letters is refused, naming the variable."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AFTERSALES_WEB_HOST": value})
        assert info.value.field == "AFTERSALES_WEB_HOST"

    def test_personal_labels_default_hash(self) -> None:
        """Personal keys are hashed unless configured otherwise."""
        assert Settings.from_env({}).personal_labels == "hash"

    @pytest.mark.parametrize("value", ["hash", "DROP", " keep "])
    def test_personal_labels_modes(self, value: str) -> None:
        """hash, drop and keep are accepted, in any case."""
        settings = Settings.from_env({"AFTERSALES_PERSONAL_LABELS": value})
        assert settings.personal_labels == value.strip().lower()

    def test_personal_labels_bad_mode(self) -> None:
        """Another mode is refused with the variable named."""
        with pytest.raises(ConfigError, match="AFTERSALES_PERSONAL_LABELS: invalid value 'mask'"):
            Settings.from_env({"AFTERSALES_PERSONAL_LABELS": "mask"})

    def test_secret_key_or_app_id(self) -> None:
        """The hash key is the configured secret, else one derived from the app id."""
        keyed = Settings.from_env({"AFTERSALES_PERSONAL_LABELS_KEY": "s3cret"})
        assert keyed.personal_labels_secret == b"s3cret"
        a = Settings.from_env({"AFTERSALES_APP_ID": "a"}).personal_labels_secret
        b = Settings.from_env({"AFTERSALES_APP_ID": "b"}).personal_labels_secret
        assert a != b


class TestUnknownVariables:
    def test_typo_is_reported_with_a_suggestion(self) -> None:
        """A misspelt variable is named, with the closest known one."""
        found = unknown_variables({"AFTERSALES_WEBPORT": "7000", "AFTERSALES_WEB_PORT": "1"})
        assert found == [("AFTERSALES_WEBPORT", "AFTERSALES_WEB_PORT")]

    def test_unrelated_name_has_no_suggestion(self) -> None:
        """A variable like no setting is reported without a suggestion."""
        assert unknown_variables({"AFTERSALES_ZZZ": "1"}) == [("AFTERSALES_ZZZ", None)]

    def test_known_and_foreign_variables_pass(self) -> None:
        """Settings, KAFKA_BOOTSTRAP_SERVERS, the test switch and other prefixes pass."""
        env = {"AFTERSALES_LOG_LEVEL": "INFO", "KAFKA_BOOTSTRAP_SERVERS": "k:1", "PATH": "/bin",
               "AFTERSALES_REQUIRE_DEPLOY_TOOLS": "1", "AFTERSALESX": "1"}
        assert unknown_variables(env) == []

    def test_worker_logs_a_warning(self) -> None:
        """The CLI helper logs one structlog warning per unknown variable."""
        from structlog.testing import capture_logs

        from streams.cli import warn_unknown_variables

        with pytest.MonkeyPatch.context() as patch, capture_logs() as logs:
            patch.setenv("AFTERSALES_LOG_LEVLE", "DEBUG")
            warn_unknown_variables()
        assert {"event": "unknown_setting_variable", "variable": "AFTERSALES_LOG_LEVLE",
                "did_you_mean": "AFTERSALES_LOG_LEVEL", "log_level": "warning"} in logs


class TestHostileEnvironment:
    @pytest.mark.parametrize("field", [f.name for f in fields(Settings)])
    def test_only_config_errors_naming_the_variable(self, field: str) -> None:
        """Any value of any variable gives valid settings or a ConfigError naming that variable."""
        variable = env_name(field)
        for value in ["x", " ", "-1", "0", "1e999", "9" * 5000, "\udcff", "a" * 300, "☃", "1_0",
                      "0x10", "host:1,host", "inf", "nan"]:
            try:
                Settings.from_env({variable: value})
            except ConfigError as error:
                assert error.field == variable, (value, error)
