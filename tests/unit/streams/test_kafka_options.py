"""Kafka client options: one builder for aiokafka and Faust, for every protocol and mechanism."""

from __future__ import annotations

import ast
import itertools
import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

import streams
from streams.exceptions import ConfigError
from streams.runtime.config import Settings
from streams.runtime.kafka_options import (
    build_ssl_context,
    client_options,
    faust_broker_urls,
    faust_credentials,
)
from tests.tls_files import TlsFiles, tls_files  # noqa: F401 - the fixture

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def sasl_env(protocol: str, mechanism: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
        "KAFKA_SECURITY_PROTOCOL": protocol,
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": "svc-aftersales",
        "KAFKA_SASL_PASSWORD": "pa55-word",
    }


class TestClientOptions:
    def test_plaintext_has_no_security_options(self) -> None:
        """PLAINTEXT gives the bootstrap servers and the protocol, nothing else."""
        options = client_options(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092"}))
        assert options == {"bootstrap_servers": "k1:9092", "security_protocol": "PLAINTEXT"}

    @pytest.mark.parametrize("mechanism", MECHANISMS)
    def test_sasl_plaintext_carries_credentials_without_tls(self, mechanism: str) -> None:
        """SASL_PLAINTEXT passes mechanism, user and password, and no TLS context."""
        options = client_options(Settings.from_env(sasl_env("SASL_PLAINTEXT", mechanism)))
        assert options == {
            "bootstrap_servers": "k1:9093,k2:9093",
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_plain_username": "svc-aftersales",
            "sasl_plain_password": "pa55-word",
        }

    @pytest.mark.parametrize("mechanism", MECHANISMS)
    def test_sasl_ssl_verifies_the_broker_with_system_cas(self, mechanism: str) -> None:
        """SASL_SSL without a CA file checks the broker against the system CAs and its name."""
        options = client_options(Settings.from_env(sasl_env("SASL_SSL", mechanism)))
        context = options["ssl_context"]
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == mechanism
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname

    def test_ssl_with_ca_and_client_certificate(self, tls_files: TlsFiles) -> None:
        """SSL with a CA file trusts exactly that CA and presents the client certificate."""
        settings = Settings.from_env(
            {
                "KAFKA_SECURITY_PROTOCOL": "SSL",
                "KAFKA_SSL_CAFILE": str(tls_files.ca),
                "KAFKA_SSL_CERTFILE": str(tls_files.client_cert),
                "KAFKA_SSL_KEYFILE": str(tls_files.client_key),
            }
        )
        options = client_options(settings)
        assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
        issuers = [
            dict(item[0] for item in cert["subject"])["commonName"]
            for cert in options["ssl_context"].get_ca_certs()
        ]
        assert issuers == ["test-ca"]

    @pytest.mark.parametrize(
        ("protocol", "mechanism"),
        [
            ("PLAINTEXT", ""),
            ("SSL", ""),
            *itertools.product(("SASL_PLAINTEXT", "SASL_SSL"), MECHANISMS),
        ],
    )
    async def test_every_aiokafka_client_accepts_the_options(
        self, protocol: str, mechanism: str
    ) -> None:
        """Producer, consumer and admin client all construct from the same options."""
        env = sasl_env(protocol, mechanism) if mechanism else {"KAFKA_SECURITY_PROTOCOL": protocol}
        options = client_options(Settings.from_env(env))
        producer, consumer = AIOKafkaProducer(**options), AIOKafkaConsumer(**options)
        admin = AIOKafkaAdminClient(**options)
        try:
            for client in (producer.client, consumer._client, admin._client):
                assert client._security_protocol == protocol
                assert client._sasl_mechanism == (mechanism or "PLAIN")
                assert (client._ssl_context is not None) == protocol.endswith("SSL")
        finally:
            await producer.stop()
            await consumer.stop()
            await admin.close()


class TestFaustCredentials:
    def test_plaintext_has_none(self) -> None:
        """PLAINTEXT gives no credentials, so Faust connects in plaintext."""
        assert faust_credentials(Settings()) is None

    def test_broker_urls_use_faust_scheme(self) -> None:
        """Each bootstrap server becomes one kafka:// URL (Faust's aiokafka driver)."""
        settings = Settings(kafka_bootstrap_servers="k1:9092, k2:9093")
        assert faust_broker_urls(settings) == ["kafka://k1:9092", "kafka://k2:9093"]

    def test_ssl_gives_ssl_credentials(self) -> None:
        """SSL gives Faust an SSL context."""
        credentials = faust_credentials(Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"}))
        assert isinstance(credentials, SSLCredentials)

    @pytest.mark.parametrize(
        ("protocol", "mechanism"), itertools.product(("SASL_PLAINTEXT", "SASL_SSL"), MECHANISMS)
    )
    def test_faust_ends_with_the_same_aiokafka_options(self, protocol: str, mechanism: str) -> None:
        """Faust's translation of its credentials equals our aiokafka options."""
        settings = Settings.from_env(sasl_env(protocol, mechanism))
        credentials = faust_credentials(settings)
        assert isinstance(credentials, SASLCredentials)
        faust_side = dict(credentials_to_aiokafka_auth(credentials))
        ours = client_options(settings)
        assert (faust_side["ssl_context"] is None) == ("ssl_context" not in ours)
        faust_side.pop("ssl_context")
        ours.pop("ssl_context", None)
        ours.pop("bootstrap_servers")
        assert faust_side == ours

    def test_password_not_in_repr(self) -> None:
        """Faust's credentials object does not show the password."""
        settings = Settings.from_env(sasl_env("SASL_SSL", "SCRAM-SHA-512"))
        assert "pa55-word" not in repr(faust_credentials(settings))


class TestBuildSslContext:
    def test_wrong_key_names_the_key_file(self, tls_files: TlsFiles) -> None:
        """A key that does not belong to the certificate is blamed on KAFKA_SSL_KEYFILE."""
        with pytest.raises(ConfigError) as info:
            build_ssl_context("", str(tls_files.client_cert), str(tls_files.server_key))
        assert info.value.field == "KAFKA_SSL_KEYFILE"

    def test_encrypted_key_is_refused_not_prompted(self, tls_files: TlsFiles) -> None:
        """An encrypted key fails at once (OpenSSL would otherwise prompt on the terminal)."""
        with pytest.raises(ConfigError) as info:
            build_ssl_context("", str(tls_files.client_cert), str(tls_files.encrypted_key))
        assert info.value.field == "KAFKA_SSL_KEYFILE"

    def test_key_as_certificate_names_the_certificate(self, tls_files: TlsFiles) -> None:
        """A file that holds no certificate is blamed on KAFKA_SSL_CERTFILE."""
        with pytest.raises(ConfigError) as info:
            build_ssl_context("", str(tls_files.client_key), str(tls_files.client_key))
        assert info.value.field == "KAFKA_SSL_CERTFILE"

    def test_not_a_ca_file(self, tls_files: TlsFiles) -> None:
        """A CA file without certificates names KAFKA_SSL_CAFILE."""
        with pytest.raises(ConfigError) as info:
            build_ssl_context(str(tls_files.client_key), "", "")
        assert info.value.field == "KAFKA_SSL_CAFILE"


class TestSimulateCommand:
    def test_scheme_in_kafka_option_is_refused(self) -> None:
        """`simulate --kafka kafka://h:9092` stops before connecting, pointing at the fix."""
        from streams.dev.simulator.cli import simulate

        result = CliRunner().invoke(simulate, ["--days", "0.01", "--kafka", "kafka://h:9092"])
        assert result.exit_code == 2
        assert "--kafka" in result.output
        assert "KAFKA_SECURITY_PROTOCOL" in result.output

    def test_security_settings_come_from_the_environment(self) -> None:
        """`simulate --kafka` validates the KAFKA_* security variables like the worker."""
        from streams.dev.simulator.cli import simulate

        result = CliRunner().invoke(
            simulate,
            ["--days", "0.01", "--kafka", "h:9092"],
            env={"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
        )
        assert result.exit_code == 2
        assert "KAFKA_SASL_MECHANISM" in result.output


class TestEveryClientUsesTheBuilder:
    def test_no_service_module_builds_a_client_by_hand(self) -> None:
        """Every aiokafka client in streams/ takes **options, never bootstrap_servers= alone,
        and the Faust app takes broker_credentials (a new plaintext-only client fails here)."""
        root = Path(streams.__file__).parent
        clients = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
        found, offenders = 0, []
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                keywords = {k.arg for k in node.keywords}
                where = f"{path.relative_to(root)}:{node.lineno}"
                if name in clients:
                    found += 1
                    if "bootstrap_servers" in keywords or None not in keywords:
                        offenders.append(where)
                elif name == "App" and "broker_credentials" not in keywords:
                    offenders.append(where)
        assert found >= 7
        assert offenders == []
