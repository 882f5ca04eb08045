"""docker-compose.yml, Dockerfile and .dockerignore (no Docker engine: parsed, not run)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
        """The simulator only starts with the sim profile, writes to kafka:9092, and waits
        for a healthy worker (which creates the topics)."""
        simulator = SERVICES["simulator"]
        command = " ".join(simulator["command"])
        assert simulator["profiles"] == ["sim"]
        assert command.startswith("aftersales simulate --kafka kafka:9092 ")
        assert simulator["depends_on"]["worker"]["condition"] == "service_healthy"

    def test_worker_healthcheck_is_its_health_endpoint(self) -> None:
        """The worker's container health check asks /health on its web port."""
        (kind, *command) = SERVICES["worker"]["healthcheck"]["test"]
        assert kind == "CMD" and command[:2] == ["python", "-c"]
        assert "http://127.0.0.1:6066/health" in command[2]

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
        assert target == "worker:6066" and "127.0.0.1:6066:6066" in SERVICES["worker"]["ports"]


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
        """The image is built on an exact python 3.11 patch release, slim variant."""
        assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+$", self.TEXT, re.MULTILINE)

    def test_installs_the_package_and_runs_the_worker(self) -> None:
        """The image pip-installs the repository under the constraints, runs `aftersales worker`."""
        assert "PIP_CONSTRAINT=/src/deploy/constraints.txt pip install ." in self.TEXT
        assert 'CMD ["aftersales", "worker"]' in self.TEXT

    def test_copy_sources_exist(self) -> None:
        """Every COPY source is the context root or an existing path."""
        for line in re.findall(r"^COPY\s+(.+)$", self.TEXT, re.MULTILINE):
            *sources, _dest = [a for a in line.split() if not a.startswith("--")]
            assert all(s == "." or (REPO / s).exists() for s in sources), line

    def test_runs_as_non_root(self) -> None:
        """The worker runs as an unprivileged user."""
        assert re.search(r"^USER (?!root)\S+", self.TEXT, re.MULTILINE)

    @pytest.mark.parametrize("entry", [".venv", ".git", "tests"])
    def test_dockerignore_excludes(self, entry: str) -> None:
        """The build context leaves out local-only directories."""
        assert entry in (REPO / ".dockerignore").read_text().split()


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Return (host ip or None, "host:container") for each published port of a service."""
    ports = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.append((entry.get("host_ip"), f"{entry.get('published')}:{entry['target']}"))
            continue
        parts = str(entry).split(":")
        ports.append((parts[0], ":".join(parts[1:])) if len(parts) == 3 else (None, str(entry)))
    return ports


def image_version(image: str) -> tuple[int, ...]:
    """The numeric version of an image tag, e.g. ``prom/prometheus:v3.13.2`` -> (3, 13, 2)."""
    tag = image.rsplit(":", 1)[1]
    return tuple(int(part) for part in tag.lstrip("v").split("."))


#: The first release outside the vulnerable ranges known for each image (2026-11).
SAFE_FROM: dict[str, tuple[tuple[int, ...], str]] = {
    "apache/kafka": ((4, 2, 0), "CVE-2026-35554 (< 3.9.2, 4.0 < 4.0.2, 4.1 < 4.1.2); 3.9 EOL"),
    "prom/prometheus": ((3, 12, 0), "remote-write snappy DoS fixed in 3.12.0; 2.x EOL"),
    "prom/alertmanager": ((0, 25, 1), "CVE-2023-40577 (stored XSS) before 0.25.1"),
    "grafana/grafana-oss": (
        (13, 2, 0),
        ("CVE-2024-9264, CVE-2025-4123, CVE-2026-41602, CVE-2026-17183 (fixed by 13.2.0)"),
    ),
}


class TestComposeSafety:
    """Issue #17 item 9: nothing reachable from other hosts, no default credentials."""

    @pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if s.get("ports")])
    def test_published_ports_bound_to_loopback(self, name: str) -> None:
        """Every published port names 127.0.0.1 as its host address (never 0.0.0.0)."""
        for host_ip, mapping in published_ports(SERVICES[name]):
            assert host_ip == "127.0.0.1", f"{name}: {mapping}"

    def test_prometheus_lifecycle_api_off(self) -> None:
        """No service enables Prometheus' lifecycle API (POST /-/quit, /-/reload)."""
        for name, service in SERVICES.items():
            command = service.get("command", [])
            args = command if isinstance(command, list) else command.split()
            assert "--web.enable-lifecycle" not in args, name

    def test_grafana_password_required_without_fallback(self) -> None:
        """The admin password comes from the environment; compose refuses to start without it."""
        password = SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
        assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password)

    def test_grafana_no_anonymous_access(self) -> None:
        """Anonymous access is off and no anonymous role is configured."""
        env = SERVICES["grafana"]["environment"]
        assert str(env["GF_AUTH_ANONYMOUS_ENABLED"]).lower() == "false"
        assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env

    def test_worker_binds_all_interfaces_inside_the_container(self) -> None:
        """The container sets AFTERSALES_WEB_HOST=0.0.0.0 explicitly (the default is loopback)."""
        assert SERVICES["worker"]["environment"]["AFTERSALES_WEB_HOST"] == "0.0.0.0"  # noqa: S104
        assert re.search(
            r"^ENV AFTERSALES_WEB_HOST=0\.0\.0\.0$", (REPO / "Dockerfile").read_text(), re.MULTILINE
        )

    @pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "build" not in s])
    def test_images_pinned_to_exact_safe_versions(self, name: str) -> None:
        """Every pulled image names an exact x.y.z release at or after its known-safe floor."""
        image = SERVICES[name]["image"]
        repository, _, tag = image.rpartition(":")
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), image
        floor, why = SAFE_FROM[repository]
        assert image_version(image) >= floor, f"{image}: {why}"


class TestConstraints:
    """deploy/constraints.txt pins the image's Python dependencies."""

    PATH = REPO / "deploy" / "constraints.txt"

    def pins(self) -> dict[str, str]:
        """name -> version of every pin (names normalised)."""
        pins = {}
        for raw in self.PATH.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                name, sep, version = line.partition("==")
                assert sep and re.fullmatch(r"[\w.]+", version), f"not an exact pin: {line}"
                pins[re.sub(r"[-_.]+", "-", name).lower()] = version
        return pins

    def test_in_build_context(self) -> None:
        """.dockerignore leaves deploy/ out of the context except the constraints file."""
        entries = (REPO / ".dockerignore").read_text().split()
        assert "deploy" in entries and "!deploy/constraints.txt" in entries

    def test_pins_the_whole_runtime_closure_at_tested_versions(self) -> None:
        """Every runtime dependency (transitively) and the build backend are pinned, at the
        versions installed in the environment the tests run in."""
        from importlib import metadata

        from packaging.markers import default_environment
        from packaging.requirements import Requirement

        environment = {**default_environment(), "extra": ""}
        pins = self.pins()
        seen: set[str] = set()
        todo = [
            Requirement(r).name
            for r in metadata.distribution("aftersales-monitor").requires or []
            if not Requirement(r).marker
        ]
        while todo:
            name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
            if name in seen:
                continue
            seen.add(name)
            dist = metadata.distribution(name)
            assert pins.get(name) == dist.version, (name, pins.get(name), dist.version)
            for raw in dist.requires or []:
                requirement = Requirement(raw)
                if requirement.marker is None or requirement.marker.evaluate(environment):
                    todo.append(requirement.name)
        assert {"setuptools", "wheel"} <= set(pins)


def test_env_file_stays_out_of_git_and_the_image() -> None:
    """A .env holding the compose secrets is ignored by git and left out of the build context."""
    assert ".env" in (REPO / ".gitignore").read_text().split()
    assert ".env" in (REPO / ".dockerignore").read_text().split()


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


class TestWorkerHealthcheck:
    """The compose health check's command, run against a stand-in /health."""

    @staticmethod
    def run_check(port: int) -> int:
        command = SERVICES["worker"]["healthcheck"]["test"][1:]
        command = [a.replace("127.0.0.1:6066", f"127.0.0.1:{port}") for a in command]
        return subprocess.run(
            [sys.executable, *command[1:]], capture_output=True, timeout=30, check=False
        ).returncode

    @pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
    def test_healthy_only_on_200(self, status: int, healthy: bool) -> None:
        """200 from /health is healthy; 503 (stalled or failed) is not."""
        handler = type("Handler", (_Health,), {"status": status})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert (self.run_check(server.server_address[1]) == 0) is healthy
        finally:
            server.shutdown()
            server.server_close()

    def test_unhealthy_when_nothing_listens(self) -> None:
        """A worker that is not listening is unhealthy."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        assert self.run_check(port) != 0


@pytest.mark.slow
class TestSimProfileTraffic:
    """The sim profile's simulate arguments, generated as the simulator would: history
    before now, live traffic paced at real time, incidents minutes after now, and every
    event valid and not ahead of the clock when it is sent."""

    @staticmethod
    def run() -> tuple[Any, Any, list[Any]]:
        from streams.dev.simulator.cli import build_config, simulate
        from streams.dev.simulator.generator import simulate as generate

        command = SERVICES["simulator"]["command"]
        assert command[:2] == ["aftersales", "simulate"]
        params = simulate.make_context("simulate", list(command[2:])).params
        config = build_config(
            **{
                k: params[k]
                for k in (
                    "seed",
                    "start",
                    "days",
                    "history_days",
                    "orders_per_day",
                    "scenario",
                    "incident_specs",
                    "speed",
                )
            }
        )
        return params, config, list(generate(config))

    @pytest.fixture(scope="class")
    def traffic(self) -> tuple[Any, Any, list[Any]]:
        return self.run()

    def test_history_covers_the_rules_warm_up(self, traffic) -> None:
        """The back-filled history is at least the longest warm-up of the shipped rules,
        and it ends at the start of the run, which is now."""
        from streams.cli.run_summary import warmup_days
        from streams.rules.catalogue import load_rules

        params, _, events = traffic
        start_ms = int(params["start"].timestamp() * 1000)
        assert abs(params["start"] - datetime.now(UTC)) < timedelta(minutes=5)
        assert params["history_days"] >= max(warmup_days(load_rules()).values())
        history = [e for e in events if e.ts_ms < start_ms]
        assert (start_ms - history[0].ts_ms) / 86_400_000 > params["history_days"] - 0.1

    def test_incidents_start_minutes_after_now(self, traffic) -> None:
        """Every incident starts within the first half hour of the live traffic."""
        params, config, _ = traffic
        assert len(config.incidents) >= 3
        for incident in config.incidents:
            assert timedelta(0) < incident.start - params["start"] <= timedelta(minutes=30)

    def test_events_are_valid_and_never_ahead_of_the_clock(self, traffic) -> None:
        """Each event passes the worker's validation with a zero tolerance for the future:
        history before the live start, live events no earlier than they are due."""
        from streams.contract.validation import decode_event
        from streams.dev.simulator.kafka import pace_offset_s

        params, _, events = traffic
        speed = params["speed"]
        assert speed is not None
        start_ms = int(params["start"].timestamp() * 1000)
        for event in events:
            # The earliest wall time the event can be sent: history is sent before the
            # live start; live events at their pace from the live start (which is later
            # than start_ms by the back-fill's duration).
            sent_ms = start_ms + max(pace_offset_s(event.ts_ms, start_ms, speed) * 1000, 0)
            decode_event(event.topic, json.dumps(event.value).encode(), latest_ts_ms=int(sent_ms))
        assert sum(e.ts_ms >= start_ms for e in events) > 0
