"""docker-compose.yml and the Dockerfile stay consistent with the CLI, the settings classes and the ports.

Nothing here needs Docker: the compose file is read with PyYAML and checked against what the code says
(``configtrail.cli``, the settings classes, the default ports), and the healthcheck commands it embeds are run
against real servers on free ports.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pydantic_settings import BaseSettings

from configtrail import settings as settings_module
from configtrail.cli import SERVICES, build_parser
from configtrail.settings import CommonSettings, IngestSettings, MetricsSettings, SyncSettings
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES_IN_COMPOSE: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()

# which settings class each `configtrail serve NAME` reads (see configtrail.cli.cmd_serve)
SERVE_SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "sync": SyncSettings,
    "metrics": MetricsSettings,
    "gateway": GatewaySettings,
}
# the other commands a deployment runs, and what they read
COMMAND_SETTINGS: dict[str, type[BaseSettings]] = {"migrate": CommonSettings}
GRPC_SERVICES = {name for name in SERVICES if name != "gateway"}
PREFIX = str(CommonSettings.model_config["env_prefix"])
PROBE_ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")


def app_services() -> dict[str, dict[str, Any]]:
    """The services that run the configtrail image (built from this repository)."""
    return {name: spec for name, spec in SERVICES_IN_COMPOSE.items() if "build" in spec}


def command_of(spec: dict[str, Any]) -> list[str]:
    command = spec["command"]
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def settings_for(spec: dict[str, Any]) -> type[BaseSettings]:
    args = build_parser().parse_args(command_of(spec))
    if args.command == "serve":
        return SERVE_SETTINGS[args.service]
    return COMMAND_SETTINGS[args.command]


def environment_of(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment", {})
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return {str(key): str(value) for key, value in cast(dict[str, Any], env).items()}


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    return {f"{prefix}{field}".upper() for field in settings_class.model_fields}


def one_shot(name: str) -> bool:
    """A configtrail command that runs to completion (migrate), not a server."""
    spec = SERVICES_IN_COMPOSE[name]
    return "build" in spec and build_parser().parse_args(command_of(spec)).command != "serve"


def default_port(service: str) -> int:
    """The port a service listens on by default, from its settings class and configtrail.settings."""
    port = int(SERVE_SETTINGS[service].model_fields[f"{service}_port"].default)
    assert port == getattr(settings_module, f"DEFAULT_{service.upper()}_PORT")
    return port


def container_ports(spec: dict[str, Any]) -> set[int]:
    """Container-side ports of `ports` (short syntax `[ip:][host:]container`, or long syntax) and `expose`."""
    ports: set[int] = set()
    for entry in spec.get("ports", []):
        target = entry["target"] if isinstance(entry, dict) else str(entry).rpartition(":")[2]
        ports.add(int(str(target).partition("/")[0]))
    for entry in spec.get("expose", []):
        ports.add(int(str(entry).partition("/")[0]))
    return ports


def probe(spec: dict[str, Any]) -> str:
    """The Python program of a `python -c` healthcheck."""
    test = [str(part) for part in spec["healthcheck"]["test"]]
    assert test[:3] == ["CMD", "python", "-c"], f"expected an exec-form `python -c` probe, got {test}"
    return test[3]


def seconds(duration: str) -> float:
    """A compose duration such as ``1m30s`` in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def run_probe(program: str, port: int) -> int:
    """Run a compose probe against ``port`` instead of its fixed one; its exit code."""
    program = PROBE_ADDRESS.sub(f"127.0.0.1:{port}", program)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30).returncode


def test_every_service_has_a_compose_service() -> None:
    for name in SERVICES:
        assert name in SERVICES_IN_COMPOSE, f"`configtrail serve {name}` has no compose service"
        assert command_of(SERVICES_IN_COMPOSE[name]) == ["serve", name]
    assert set(SERVE_SETTINGS) == set(SERVICES), "update SERVE_SETTINGS for the new service"


@pytest.mark.parametrize("name", sorted(app_services()))
def test_command_is_a_configtrail_command(name: str) -> None:
    command = command_of(app_services()[name])
    try:
        args = build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"{name}: `configtrail {' '.join(command)}` is not a configtrail command")
    if args.command == "serve":
        assert args.service == name, "a service is named after what it serves"
    else:
        assert args.command in COMMAND_SETTINGS, f"{name}: `{args.command}` has no place in a deployment"


@pytest.mark.parametrize("name", sorted(app_services()))
def test_environment_names_real_settings(name: str) -> None:
    spec = app_services()[name]
    settings_class = settings_for(spec)
    env = environment_of(spec)
    unknown = set(env) - env_names(settings_class)
    assert not unknown, f"{name}: {settings_class.__name__} has no setting for {sorted(unknown)}"
    # without both URLs a configtrail process starts embedded servers inside the container
    for url in ("database_url", "redis_url"):
        assert f"{PREFIX}{url}".upper() in env, f"{name}: {url} not set"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_listen_on_their_default_ports_for_other_containers(name: str) -> None:
    spec = SERVICES_IN_COMPOSE[name]
    env = environment_of(spec)
    assert f"{PREFIX}{name}_port".upper() not in env, "the probes assume the default port"
    assert env.get(f"{PREFIX}BIND_HOST") == "0.0.0.0", (
        f"{name}: loopback is unreachable from other containers"
    )
    assert container_ports(spec) <= {default_port(name)}, f"{name}: ports do not match the default port"
    assert PROBE_ADDRESS.findall(probe(spec)) == [str(default_port(name))], f"{name}: probe on another port"


def test_addresses_point_at_compose_services_on_their_ports() -> None:
    addresses = {
        key: value
        for spec in app_services().values()
        for key, value in environment_of(spec).items()
        if key.endswith("_ADDRESS")
    }
    assert addresses
    for key, value in addresses.items():
        service = key.removeprefix(PREFIX).removesuffix("_ADDRESS").lower()
        assert value == f"{service}:{default_port(service)}", f"{key}={value}"


def test_gateway_is_published_and_ingest_only_on_loopback() -> None:
    gateway_ports = [str(entry) for entry in SERVICES_IN_COMPOSE["gateway"]["ports"]]
    assert any(entry.endswith(f":{default_port('gateway')}") for entry in gateway_ports)
    for entry in SERVICES_IN_COMPOSE["ingest"].get("ports", []):
        assert str(entry).startswith("127.0.0.1:"), (
            "Ingest takes no write keys: keep it off public interfaces"
        )


def test_sync_scales_out() -> None:
    sync = SERVICES_IN_COMPOSE["sync"]
    assert "container_name" not in sync, "a fixed container name allows one replica only"
    assert "hostname" not in sync, "replicas sharing a host name would share one consumer name"
    assert not sync.get("ports"), "a fixed host port allows one replica only"
    assert f"{PREFIX}SYNC_WORKER_NAME" not in environment_of(sync), "each replica needs its own consumer"
    assert SyncSettings.model_fields["sync_worker_name"].default == "", "the default name is the host name"
    assert int(sync["deploy"]["replicas"]) >= 2


def test_stop_grace_lets_services_drain() -> None:
    grace = float(CommonSettings.model_fields["shutdown_grace_seconds"].default)
    for name in GRPC_SERVICES:
        assert seconds(SERVICES_IN_COMPOSE[name]["stop_grace_period"]) > grace
    # Sync: in-flight RPCs (grace), then the worker's batch, the pool and Redis, each given up to
    # max(grace, 5 s) by RunningServer.stop
    assert seconds(SERVICES_IN_COMPOSE["sync"]["stop_grace_period"]) >= grace + 3 * max(grace, 5.0)


def test_redis_is_durable_and_never_evicts() -> None:
    command = command_of(SERVICES_IN_COMPOSE["redis"])
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert command[0].endswith("-server")
    assert options.get("--appendonly") == "yes"
    assert options.get("--appendfsync") == "always"
    assert options.get("--maxmemory-policy") == "noeviction"
    assert any(str(volume).endswith(":/data") for volume in SERVICES_IN_COMPOSE["redis"]["volumes"])


def test_postgres_keeps_its_data_and_reports_readiness() -> None:
    postgres = SERVICES_IN_COMPOSE["postgres"]
    assert str(postgres["image"]).startswith("postgres:16")
    volume = str(postgres["volumes"][0]).partition(":")[0]
    assert volume in COMPOSE["volumes"], "a named volume, declared at the top level"
    assert "pg_isready" in " ".join(str(part) for part in postgres["healthcheck"]["test"])


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, spec in SERVICES_IN_COMPOSE.items():
        depends_on = spec.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions starts too early"
        for dependency, condition in depends_on.items():
            if one_shot(dependency):
                assert condition["condition"] == "service_completed_successfully", f"{name} -> {dependency}"
            else:
                assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"
                assert "healthcheck" in SERVICES_IN_COMPOSE[dependency], f"{dependency} has no healthcheck"
    # the services that query Postgres start on the migrated schema; Ingest needs Redis only
    for name in ("sync", "metrics"):
        assert "migrate" in SERVICES_IN_COMPOSE[name]["depends_on"]
    assert "redis" in SERVICES_IN_COMPOSE["ingest"]["depends_on"]
    for name in app_services():
        restart = SERVICES_IN_COMPOSE[name].get("restart", "no")
        if one_shot(name):
            assert restart in ("no", "on-failure"), f"{name} would run again after completing"
        else:
            assert restart in ("unless-stopped", "always"), f"{name}: a crashed server stays down"


def test_secrets_come_from_the_operator() -> None:
    gateway_env = environment_of(SERVICES_IN_COMPOSE["gateway"])
    for key in (f"{PREFIX}WRITE_KEYS", f"{PREFIX}ADMIN_TOKENS", f"{PREFIX}ERASE_TOKENS"):
        assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", gateway_env.get(key, "")), f"{key}: `${{{key}:?…}}`"
    for spec in SERVICES_IN_COMPOSE.values():
        for key, value in environment_of(spec).items():
            if "PASSWORD" in key or key.endswith(("_KEYS", "_TOKENS")):
                assert value.startswith("${"), f"{key} is written into the compose file"


@pytest.fixture
def grpc_health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(None)


def test_grpc_probe_passes_only_while_serving(grpc_health_server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = grpc_health_server
    program = probe(SERVICES_IN_COMPOSE["ingest"])
    for name in GRPC_SERVICES:  # the same program, on each service's port
        assert PROBE_ADDRESS.sub("", probe(SERVICES_IN_COMPOSE[name])) == PROBE_ADDRESS.sub("", program)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert run_probe(program, port) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert run_probe(program, port) != 0


def test_grpc_probe_fails_when_nothing_listens() -> None:
    program = probe(SERVICES_IN_COMPOSE["sync"])
    with socket.socket() as bound:  # bound, never listening: connections are refused, nobody else gets it
        bound.bind(("127.0.0.1", 0))
        assert run_probe(program, bound.getsockname()[1]) != 0


class _Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_gateway_probe_follows_healthz() -> None:
    program = probe(SERVICES_IN_COMPOSE["gateway"])
    assert "/healthz" in program
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _Healthz.status = 200
        assert run_probe(program, server.server_address[1]) == 0
        _Healthz.status = 503
        assert run_probe(program, server.server_address[1]) != 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_image_runs_the_configtrail_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoints = [args for instruction, args in dockerfile_instructions() if instruction == "ENTRYPOINT"]
    assert entrypoints, "no ENTRYPOINT"
    assert yaml.safe_load(entrypoints[-1]) == ["configtrail"], "exec form, so SIGTERM reaches configtrail"
    assert "configtrail" in scripts


def test_image_installs_the_project_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    froms = [args.split()[0] for instruction, args in instructions if instruction == "FROM"]
    assert froms
    assert all(image.startswith("python:3.11-slim") for image in froms)
    installs = [args for instruction, args in instructions if instruction == "RUN" and "pip install" in args]
    assert any(re.search(r"pip install -c constraints\.txt \.(\s|$)", args) for args in installs), (
        "install the project from the repo, at the pinned versions"
    )
    assert not any("-e " in args or "[dev]" in args for args in installs), (
        "no editable install, no dev extras"
    )
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users, "no USER: the services would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    for instruction, args in instructions:
        if instruction == "ENV":
            names = set(re.findall(r"(CONFIGTRAIL_[A-Z_]+)=", args))
            assert names <= env_names(CommonSettings), f"no such setting: {names - env_names(CommonSettings)}"


def test_build_context_holds_every_package() -> None:
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    allowed = {
        line.strip()[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    for pattern in find["include"]:
        assert pattern.rstrip("*") in allowed, f".dockerignore keeps package {pattern} out of the image"
    assert "pyproject.toml" in allowed
    assert "constraints.txt" in allowed


def test_every_dependency_is_pinned_in_the_constraints_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = Version(version)
    wanted = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    missing = [str(r) for r in wanted if canonicalize_name(r.name) not in pins]
    assert not missing, f"not pinned in constraints.txt (run make lock): {missing}"
    outside = [
        f"{r.name} {pins[canonicalize_name(r.name)]} (pyproject.toml: {r.specifier})"
        for r in wanted
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not outside, f"pinned outside the range pyproject.toml allows (run make lock): {outside}"
    assert "-c constraints.txt -e" in (ROOT / "Makefile").read_text()
