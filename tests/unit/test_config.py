"""Settings from the environment: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from streams.exceptions import ConfigError
from streams.runtime.config import Settings, env_name, unknown_variables
from tests.tls_files import TlsFiles, tls_files  # noqa: F401 - the fixture


class TestSettings:
    def test_defaults_are_valid(self) -> None:
        """An empty environment gives the documented defaults."""
        settings = Settings.from_env({})
        assert settings.kafka_bootstrap_servers == "localhost:9092"
        assert settings.topic("orders") == "aftersales.orders"
        assert settings.web_port == 6066

    def test_reads_variables(self) -> None:
        """Each setting is read from its variable and parsed to its type."""
        settings = Settings.from_env(
            {
                "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9093",
                "AFTERSALES_TOPIC_PREFIX": "shop1.",
                "AFTERSALES_WEB_PORT": "7000",
                "AFTERSALES_LOG_FORMAT": "JSON",
            }
        )
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
            ("AFTERSALES_RISK_SCORE", "maybe"),
        ],
    )
    def test_bad_value_names_the_variable(self, variable: str, value: str) -> None:
        """A bad value is refused with an error that names its variable."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({variable: value})
        assert info.value.field == variable
        assert variable in str(info.value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("false", False), ("OFF", False), ("0", False), ("true", True), (" yes ", True)],
    )
    def test_risk_score_switch(self, value: str, expected: bool) -> None:
        """The risk score is on by default and switched by AFTERSALES_RISK_SCORE."""
        assert Settings.from_env({}).risk_score is True
        assert Settings.from_env({"AFTERSALES_RISK_SCORE": value}).risk_score is expected

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
        from streams.rules.catalogue import load_rules
        from streams.runtime.app import create_app
        from streams.runtime.worker import Worker

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
        env = {
            "AFTERSALES_LOG_LEVEL": "INFO",
            "KAFKA_BOOTSTRAP_SERVERS": "k:1",
            "PATH": "/bin",
            "AFTERSALES_REQUIRE_DEPLOY_TOOLS": "1",
            "AFTERSALESX": "1",
        }
        assert unknown_variables(env) == []

    def test_worker_logs_a_warning(self) -> None:
        """The CLI helper logs one structlog warning per unknown variable."""
        import streams.cli.main
        from streams.cli.main import warn_unknown_variables

        logs: list[tuple[str, dict[str, object]]] = []

        class Recorder:  # the module's logger may be cached by an earlier test's set-up
            def warning(self, event: str, **fields: object) -> None:
                logs.append((event, fields))

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AFTERSALES_LOG_LEVLE", "DEBUG")
            patch.setattr(streams.cli.main, "log", Recorder())
            warn_unknown_variables()
        assert (
            "unknown_setting_variable",
            {"variable": "AFTERSALES_LOG_LEVLE", "did_you_mean": "AFTERSALES_LOG_LEVEL"},
        ) in logs


class TestHostileEnvironment:
    @pytest.mark.parametrize("field", [f.name for f in fields(Settings)])
    def test_only_config_errors_naming_the_variable(self, field: str) -> None:
        """Any value of any variable gives valid settings or a ConfigError naming that variable."""
        variable = env_name(field)
        for value in [
            "x",
            " ",
            "-1",
            "0",
            "1e999",
            "9" * 5000,
            "\udcff",
            "a" * 300,
            "☃",
            "1_0",
            "0x10",
            "host:1,host",
            "inf",
            "nan",
        ]:
            try:
                Settings.from_env({variable: value})
            except ConfigError as error:
                assert error.field == variable, (value, error)


class TestBootstrapServers:
    @pytest.mark.parametrize(
        "value",
        ["SASL_SSL://h:9092", "kafka://h:9092", "PLAINTEXT://h:9092", "h1:9092,ssl://h2:9093"],
    )
    def test_scheme_is_refused_with_a_hint(self, value: str) -> None:
        """An entry with a scheme is refused, pointing at KAFKA_SECURITY_PROTOCOL."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": value})
        assert info.value.field == "KAFKA_BOOTSTRAP_SERVERS"
        assert "scheme" in info.value.message
        assert "KAFKA_SECURITY_PROTOCOL" in info.value.message

    def test_credentials_in_an_entry_are_not_echoed(self) -> None:
        """An entry carrying user:password@ is refused without repeating it."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "sasl_ssl://me:hunter2@h:9092"})
        assert "hunter2" not in str(info.value)

    @pytest.mark.parametrize("value", ["me:hunter2@h:9092", "h :9092", "h/x:9092"])
    def test_host_must_be_a_host_name(self, value: str) -> None:
        """Only host names, IPv4 and bracketed IPv6 addresses pass as hosts."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": value})
        assert "hunter2" not in str(info.value)

    def test_ipv6_and_names_pass(self) -> None:
        """Bracketed IPv6 and dotted names with ports are accepted."""
        value = "[::1]:9092,broker-1.kafka.svc:9093,10.0.0.7:9094"
        settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": value})
        assert settings.kafka_bootstrap_servers == value


class TestNameLengths:
    def test_300_character_app_id_is_a_config_error(self) -> None:
        """A 300-character app id is refused at start (it used to crash with OSError)."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AFTERSALES_APP_ID": "a" * 300})
        assert info.value.field == "AFTERSALES_APP_ID"
        assert "249" in info.value.message

    def test_longest_accepted_app_id_keeps_every_name_within_kafka_limits(self) -> None:
        """At the limit, every topic the service and Faust derive is at most 249 characters."""
        from streams.runtime.topics import TopicNames

        longest = "a" * 224
        settings = Settings.from_env({"AFTERSALES_APP_ID": longest})
        names = TopicNames.from_settings(settings)
        derived = [
            *names.inputs.values(),
            names.alerts,
            names.dead_letter,
            names.partials,
            names.checkpoints,
            names.intake_state,
            f"{settings.app_id}-host-__assignor-__leader",
            f"{settings.app_id}-closer",
            f"{settings.app_id}-intake",
        ]
        assert max(len(name) for name in derived) <= 249
        assert len(f"{settings.app_id}-host-data") <= 255  # Faust's data directory name
        with pytest.raises(ConfigError):
            Settings.from_env({"AFTERSALES_APP_ID": longest + "a"})

    def test_long_prefix_shortens_the_app_id_limit(self) -> None:
        """The app id limit counts the topic prefix in front of the internal topics."""
        prefix = "p" * 100 + "."
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AFTERSALES_TOPIC_PREFIX": prefix, "AFTERSALES_APP_ID": "a" * 140})
        assert info.value.field == "AFTERSALES_APP_ID"
        assert "at most 135" in info.value.message

    def test_prefix_too_long_names_the_prefix(self) -> None:
        """A prefix that alone pushes topic names over 249 characters names the prefix."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AFTERSALES_TOPIC_PREFIX": "p" * 240})
        assert info.value.field == "AFTERSALES_TOPIC_PREFIX"


class TestTopicReplication:
    def test_defaults_are_the_brokers(self) -> None:
        """By default the broker chooses replication factor and min.insync.replicas."""
        settings = Settings.from_env({})
        assert settings.topic_replication_factor == -1
        assert settings.topic_min_insync_replicas == 0

    def test_reads_both(self) -> None:
        """Both settings are read from their variables."""
        settings = Settings.from_env(
            {
                "AFTERSALES_TOPIC_REPLICATION_FACTOR": "3",
                "AFTERSALES_TOPIC_MIN_INSYNC_REPLICAS": "2",
            }
        )
        assert (settings.topic_replication_factor, settings.topic_min_insync_replicas) == (3, 2)

    @pytest.mark.parametrize(
        ("env", "variable"),
        [
            ({"AFTERSALES_TOPIC_REPLICATION_FACTOR": "0"}, "AFTERSALES_TOPIC_REPLICATION_FACTOR"),
            ({"AFTERSALES_TOPIC_REPLICATION_FACTOR": "-2"}, "AFTERSALES_TOPIC_REPLICATION_FACTOR"),
            (
                {"AFTERSALES_TOPIC_REPLICATION_FACTOR": "three"},
                "AFTERSALES_TOPIC_REPLICATION_FACTOR",
            ),
            (
                {"AFTERSALES_TOPIC_REPLICATION_FACTOR": "40000"},
                "AFTERSALES_TOPIC_REPLICATION_FACTOR",
            ),
            (
                {"AFTERSALES_TOPIC_MIN_INSYNC_REPLICAS": "-1"},
                "AFTERSALES_TOPIC_MIN_INSYNC_REPLICAS",
            ),
            (
                {
                    "AFTERSALES_TOPIC_REPLICATION_FACTOR": "2",
                    "AFTERSALES_TOPIC_MIN_INSYNC_REPLICAS": "3",
                },
                "AFTERSALES_TOPIC_MIN_INSYNC_REPLICAS",
            ),
        ],
    )
    def test_bad_values_name_the_variable(self, env: dict[str, str], variable: str) -> None:
        """Out-of-range or inconsistent values are refused with the variable named."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env(env)
        assert info.value.field == variable


SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "svc",
    "KAFKA_SASL_PASSWORD": "s3cr3t-pw",
}


class TestKafkaSecurity:
    def test_plaintext_by_default(self) -> None:
        """Without settings the service connects in plaintext."""
        assert Settings.from_env({}).kafka_security_protocol == "PLAINTEXT"

    def test_sasl_ssl_scram(self) -> None:
        """A complete SASL_SSL set is accepted; protocol and mechanism are case-insensitive."""
        settings = Settings.from_env(
            {**SASL, "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "scram-sha-512"}
        )
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
        assert settings.kafka_sasl_password == "s3cr3t-pw"

    def test_password_is_not_in_repr(self) -> None:
        """The password never shows in the settings' repr (and so in logs of it)."""
        settings = Settings.from_env(SASL)
        assert "s3cr3t-pw" not in repr(settings)
        assert "s3cr3t-pw" not in str(settings)

    def test_password_file_is_read_at_start(self, tmp_path: Path) -> None:
        """KAFKA_SASL_PASSWORD_FILE is read once; one trailing newline is dropped."""
        secret = tmp_path / "password"
        secret.write_text("from-a-file \n")
        env = {**SASL, "KAFKA_SASL_PASSWORD_FILE": str(secret)}
        del env["KAFKA_SASL_PASSWORD"]
        settings = Settings.from_env(env)
        secret.unlink()
        assert settings.kafka_sasl_password == "from-a-file "

    @pytest.mark.parametrize(
        ("change", "variable"),
        [
            ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
            ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
            ({"KAFKA_SASL_MECHANISM": "OAUTHBEARER"}, "KAFKA_SASL_MECHANISM"),
            ({"KAFKA_SASL_MECHANISM": ""}, "KAFKA_SASL_MECHANISM"),
            ({"KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME"),
            ({"KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD"),
            ({"KAFKA_SASL_PASSWORD_FILE": "/etc/hostname"}, "KAFKA_SASL_PASSWORD_FILE"),
            ({"KAFKA_SSL_CAFILE": "/no/such/ca.pem"}, "KAFKA_SSL_CAFILE"),
            ({"KAFKA_SSL_CERTFILE": "/no/such/cert.pem"}, "KAFKA_SSL_KEYFILE"),
            ({"KAFKA_SSL_KEYFILE": "/no/such/key.pem"}, "KAFKA_SSL_CERTFILE"),
            ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "KAFKA_SASL_MECHANISM"),
            ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "KAFKA_SASL_MECHANISM"),
        ],
    )
    def test_bad_security_settings_name_the_variable(
        self, change: dict[str, str], variable: str
    ) -> None:
        """Each inconsistent or unknown security setting is refused with its variable named."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({**SASL, **change})
        assert info.value.field == variable
        assert "s3cr3t-pw" not in str(info.value)

    def test_tls_files_with_plaintext_are_refused(self) -> None:
        """A CA file while the protocol uses no TLS is a mistake, not silently ignored."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"KAFKA_SSL_CAFILE": "/etc/hostname"})
        assert info.value.field == "KAFKA_SSL_CAFILE"

    def test_sasl_plaintext_needs_no_tls_files(self) -> None:
        """SASL_PLAINTEXT with credentials is complete (and refuses TLS files)."""
        env = {**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
        assert Settings.from_env(env).kafka_security_protocol == "SASL_PLAINTEXT"
        with pytest.raises(ConfigError) as info:
            Settings.from_env({**env, "KAFKA_SSL_CAFILE": "/etc/hostname"})
        assert info.value.field == "KAFKA_SSL_CAFILE"

    @pytest.mark.parametrize("content", ["", "\n"])
    def test_empty_password_file(self, tmp_path: Path, content: str) -> None:
        """An empty password file is refused, naming KAFKA_SASL_PASSWORD_FILE."""
        secret = tmp_path / "password"
        secret.write_text(content)
        env = {**SASL, "KAFKA_SASL_PASSWORD_FILE": str(secret)}
        del env["KAFKA_SASL_PASSWORD"]
        with pytest.raises(ConfigError) as info:
            Settings.from_env(env)
        assert info.value.field == "KAFKA_SASL_PASSWORD_FILE"

    def test_unreadable_password_file(self, tmp_path: Path) -> None:
        """A missing password file is refused, naming KAFKA_SASL_PASSWORD_FILE."""
        env = {**SASL, "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")}
        del env["KAFKA_SASL_PASSWORD"]
        with pytest.raises(ConfigError) as info:
            Settings.from_env(env)
        assert info.value.field == "KAFKA_SASL_PASSWORD_FILE"

    def test_mutual_tls_files(self, tls_files: TlsFiles) -> None:
        """SSL with CA, client certificate and key is accepted and keeps the paths."""
        settings = Settings.from_env(
            {
                "KAFKA_SECURITY_PROTOCOL": "SSL",
                "KAFKA_SSL_CAFILE": str(tls_files.ca),
                "KAFKA_SSL_CERTFILE": str(tls_files.client_cert),
                "KAFKA_SSL_KEYFILE": str(tls_files.client_key),
            }
        )
        assert settings.kafka_ssl_certfile == str(tls_files.client_cert)

    def test_mismatched_key_is_refused_at_start(self, tls_files: TlsFiles) -> None:
        """A key that does not match the certificate fails validation, naming the key file."""
        with pytest.raises(ConfigError) as info:
            Settings.from_env(
                {
                    "KAFKA_SECURITY_PROTOCOL": "SSL",
                    "KAFKA_SSL_CERTFILE": str(tls_files.client_cert),
                    "KAFKA_SSL_KEYFILE": str(tls_files.server_key),
                }
            )
        assert info.value.field == "KAFKA_SSL_KEYFILE"
