"""docker-compose.yml, Dockerfile and .dockerignore (no Docker engine: parsed, not run)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest
from tests.deploy.deploy_tools import REPO
from tests.deploy.render import load_yaml

COMPOSE = load_yaml(REPO / "docker-compose.yml")
SERVICES: dict[str, Any] = COMPOSE["services"]


def bind_mounts() -> list[tuple[str, str, str]]:
    """Return (service, host path, container path) for every bind mount."""
    mounts = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                mounts.append((name, source, target))
    return mounts


def container_paths(service: dict[str, Any]) -> list[str]:
    """Return the absolute container paths a service's command flags name."""
    command = service.get("command", [])
    args = command if isinstance(command, list) else command.split()
    return [m.group(1) for a in args if (m := re.match(r"--[\w.-]+=(/\S+)$", a))]


class TestComposeServices:
    @pytest.mark.parametrize(
        "name", ["kafka", "worker", "simulator", "prometheus", "alertmanager", "grafana"]
    )
    def test_service_defined(self, name: str) -> None:
        """The stack defines each required service."""
        assert name in SERVICES

    def test_kafka_runs_kraft_single_node(self) -> None:
        """Kafka is apache/kafka in KRaft combined mode, advertised on the compose network."""
        kafka = SERVICES["kafka"]
        env = kafka["environment"]
        assert kafka["image"].startswith("apache/kafka:")
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]

    def test_worker_built_from_repo_and_pointed_at_kafka(self) -> None:
        """The worker is built from the repo and runs `aftersales worker` against kafka:9092."""
        worker = SERVICES["worker"]
        assert worker["build"]["context"] == "." and worker["build"]["dockerfile"] == "Dockerfile"
        assert worker["command"] == ["aftersales", "worker"]
        assert worker["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"

    def test_simulator_is_optional(self) -> None:
        """The simulator only starts with the sim profile and writes to kafka:9092 at speed 60."""
        simulator = SERVICES["simulator"]
        command = " ".join(simulator["command"])
        assert simulator["profiles"] == ["sim"]
        assert command.startswith("aftersales simulate --kafka kafka:9092 --speed 60")

    def test_depends_on_defined_services(self) -> None:
        """Every depends_on entry names a defined service."""
        for service in SERVICES.values():
            assert set(service.get("depends_on", [])) <= set(SERVICES)

    def test_named_volumes_declared(self) -> None:
        """Every named volume used by a service is declared at top level."""
        used = {
            v.split(":")[0]
            for s in SERVICES.values()
            for v in s.get("volumes", [])
            if not v.startswith((".", "/"))
        }
        assert used <= set(COMPOSE.get("volumes") or {})

    def test_scrape_target_matches_worker_port(self) -> None:
        """Prometheus scrapes the worker at the port the worker publishes."""
        prometheus = load_yaml(REPO / "deploy/prometheus/prometheus.yml")
        (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "aftersales-worker"]
        (target,) = job["static_configs"][0]["targets"]
        assert target == "worker:6066" and "6066:6066" in SERVICES["worker"]["ports"]


class TestComposeFiles:
    @pytest.mark.parametrize(("service", "source", "target"), bind_mounts())
    def test_bind_mount_source_exists(self, service: str, source: str, target: str) -> None:
        """Every mounted local path exists in the repository."""
        assert (REPO / source).exists(), f"{service}: {source}"

    @pytest.mark.parametrize(("service", "source", "target"), bind_mounts())
    def test_config_mounts_are_read_only(self, service: str, source: str, target: str) -> None:
        """Every mounted repository file is mounted read-only."""
        volume = next(v for v in SERVICES[service]["volumes"] if v.startswith(f"{source}:{target}"))
        assert volume.endswith(":ro")

    @pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "build" in s])
    def test_build_context_and_dockerfile_exist(self, name: str) -> None:
        """Every build context and its Dockerfile exist."""
        build = SERVICES[name]["build"]
        assert (REPO / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()

    @pytest.mark.parametrize("name", ["prometheus", "alertmanager"])
    def test_config_flags_point_into_mounts(self, name: str) -> None:
        """A --config.file path in a command lies inside a bind mount whose source has that file."""
        service = SERVICES[name]
        (config,) = [
            p for p in container_paths(service) if "config.file" in p or p.endswith(".yml")
        ]
        mounts = [(s, t) for n, s, t in bind_mounts() if n == name]
        hits = [
            REPO / s / PurePosixPath(config).relative_to(t)
            for s, t in mounts
            if PurePosixPath(config).is_relative_to(t)
        ]
        assert hits and all(hit.is_file() for hit in hits)

    def test_grafana_home_dashboard_is_mounted(self) -> None:
        """Grafana's home dashboard path is a shipped dashboard under the mounted folder."""
        path = PurePosixPath(
            SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        )
        assert (
            REPO / "deploy/grafana/dashboards" / path.relative_to("/var/lib/grafana/dashboards")
        ).is_file()


class TestDockerfile:
    TEXT = (REPO / "Dockerfile").read_text()

    def test_base_image(self) -> None:
        """The image is built on python:3.11-slim."""
        assert re.search(r"^FROM python:3\.11-slim\b", self.TEXT, re.M)

    def test_installs_the_package_and_runs_the_worker(self) -> None:
        """The image pip-installs the repository and runs `aftersales worker`."""
        assert "pip install ." in self.TEXT
        assert 'CMD ["aftersales", "worker"]' in self.TEXT

    def test_copy_sources_exist(self) -> None:
        """Every COPY source is the context root or an existing path."""
        for line in re.findall(r"^COPY\s+(.+)$", self.TEXT, re.M):
            *sources, _dest = [a for a in line.split() if not a.startswith("--")]
            assert all(s == "." or (REPO / s).exists() for s in sources), line

    def test_runs_as_non_root(self) -> None:
        """The worker runs as an unprivileged user."""
        assert re.search(r"^USER (?!root)\S+", self.TEXT, re.M)

    @pytest.mark.parametrize("entry", [".venv", ".git", "tests"])
    def test_dockerignore_excludes(self, entry: str) -> None:
        """The build context leaves out local-only directories."""
        assert entry in (REPO / ".dockerignore").read_text().split()
