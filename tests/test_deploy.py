"""Deployment files: the compose file against the Compose Specification, the image's health check run for real,
and the systemd unit against what the code says."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from bot.errors import ExitCode
from bot.media.server import serve
from bot.metrics import HealthCheck, HealthReport, Metrics, create_metrics_app
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT_SECONDS = 60.0


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def single_service() -> dict[str, Any]:
    services = [s for s in compose()["services"].values() if "single" in s.get("profiles", [])]
    assert len(services) == 1, "the single profile runs exactly one service"
    service = services[0]
    assert isinstance(service, dict)
    return service


def scale_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if "scale" in s.get("profiles", [])}


def bot_processes() -> dict[str, dict[str, Any]]:
    """The scale profile's Reelbot processes: the services built from this repository."""
    return {name: s for name, s in scale_services().items() if s.get("build") == "."}


def shard_ids(spec: str) -> set[int]:
    """DISCORD_SHARD_IDS as the issue writes it: "0,1" or "0-3"."""
    ids: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        ids.update(range(int(first), int(last or first) + 1))
    return ids


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The runtime stage's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = [tuple(line.strip().split(None, 1)) for line in joined.splitlines() if line.strip()]
    stages = [i for i, parts in enumerate(instructions) if parts[0].upper() == "FROM"]
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in instructions[stages[-1] :]]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def healthcheck_command() -> list[str]:
    checks = [args for keyword, args in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "the image has one HEALTHCHECK"
    _, _, command = checks[0].partition("CMD ")
    argv = json.loads(command)  # the exec form: no shell, which the probe does not need
    assert isinstance(argv, list) and all(isinstance(arg, str) for arg in argv)
    return argv


def port_of(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests/fixtures/compose/compose-spec.json").read_text(encoding="utf-8"))
    assert "draft-07" in schema["$schema"]  # written without the "#" that jsonschema would recognise it by
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose())
    ]
    assert errors == []


def test_the_single_profile_serves_on_every_interface_and_publishes_both_ports() -> None:
    service = single_service()
    env = service["environment"]
    published = {int(port.rpartition(":")[2]) for port in service["ports"]}
    for name in ("MEDIA_LISTEN", "METRICS_LISTEN"):
        host, _, port = env[name].rpartition(":")
        assert host == "0.0.0.0", f"{name} must listen on every interface inside the container"
        assert int(port) in published, f"{name}'s port is published"
    assert port_of(env["METRICS_LISTEN"]) == port_of(image_env()["METRICS_LISTEN"])


def test_the_single_profile_keeps_its_data_on_a_volume_at_slash_data() -> None:
    service = single_service()
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
    assert mounts["/data"] in compose()["volumes"], "a named volume, which starts out owned by the image's user"
    for name in ("DATABASE_PATH", "RESULTS_DIR"):
        assert Path(service["environment"][name]).is_relative_to("/data")
        assert Path(image_env()[name]).is_relative_to("/data")
    assert service["build"] == "."
    assert not service.get("healthcheck", {}).get("disable", False), "the image's HEALTHCHECK stays on"


def test_the_scale_profile_runs_two_shards_and_a_worker_on_one_database() -> None:
    processes = bot_processes()
    shards = {name: s for name, s in processes.items() if "DISCORD_SHARD_IDS" in s["environment"]}
    workers = {name: s for name, s in processes.items() if s.get("command") == ["worker"]}
    assert len(shards) == 2 and len(workers) == 1 and len(processes) == 3
    urls = {s["environment"]["DATABASE_URL"] for s in processes.values()}
    assert len(urls) == 1, "every process uses the same database"
    url = urlsplit(urls.pop())
    assert url.scheme == "postgresql" and url.hostname in scale_services()
    for service in workers.values():
        assert "DISCORD_SHARD_IDS" not in service["environment"]
        assert service["environment"].get("PROCESS_ROLE", "all") in ("all", "worker")


def test_the_scale_profiles_shards_cover_every_shard_id_once() -> None:
    shards = [s["environment"] for s in bot_processes().values() if "DISCORD_SHARD_IDS" in s["environment"]]
    counts = {int(env["DISCORD_SHARD_COUNT"]) for env in shards}
    assert len(counts) == 1, "every shard process counts the same shards"
    owned = [shard_ids(env["DISCORD_SHARD_IDS"]) for env in shards]
    assert sorted(i for ids in owned for i in ids) == list(range(counts.pop())), "each shard id in one process"
    assert all(env.get("PROCESS_ROLE", "all") in ("all", "front") for env in shards)


def test_the_scale_profile_shares_one_rest_proxy_and_waits_for_a_healthy_database() -> None:
    services = scale_services()
    processes = bot_processes()
    bases = {s["environment"]["DISCORD_API_BASE"] for s in processes.values()}
    assert len(bases) == 1, "one REST proxy keeps every process within the same rate limits"
    base = urlsplit(bases.pop())
    assert base.hostname in services and base.path == "/api/v10"
    database = urlsplit(next(iter(processes.values()))["environment"]["DATABASE_URL"]).hostname
    assert services[database]["healthcheck"]["test"], "the database has a health check to wait on"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in services[database]["volumes"]}
    assert mounts["/var/lib/postgresql/data"] in compose()["volumes"]
    for service in processes.values():
        assert service["depends_on"][database]["condition"] == "service_healthy"
        assert service["depends_on"][base.hostname]["condition"] in ("service_started", "service_healthy")


def test_the_scale_profiles_processes_publish_their_metrics_on_distinct_loopback_ports() -> None:
    published: list[str] = []
    for service in bot_processes().values():
        assert port_of(service["environment"]["METRICS_LISTEN"]) == port_of(image_env()["METRICS_LISTEN"])
        published += [port.rpartition(":")[0] for port in service["ports"]]
    assert all(host_port.startswith("127.0.0.1:") for host_port in published)
    assert len(set(published)) == len(published)


def test_the_image_turns_the_metrics_server_on_for_its_health_check() -> None:
    env = image_env()
    assert env["METRICS_LISTEN"].startswith("0.0.0.0:")
    exposed = {int(port) for keyword, args in dockerfile_instructions() if keyword == "EXPOSE" for port in args.split()}
    assert port_of(env["METRICS_LISTEN"]) in exposed
    assert "/healthz" in " ".join(healthcheck_command())


def test_the_image_runs_as_uid_10001_with_data_on_a_volume() -> None:
    instructions = dockerfile_instructions()
    assert ("USER", "reelbot") in instructions
    run = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "--uid 10001" in run and "--gid 10001" in run
    assert "chown reelbot:reelbot /data" in run


async def healthy() -> HealthReport:
    return HealthReport({"discord": HealthCheck(True, "connected")})


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[int, list[bool]]]:
    """A real /healthz server on a free port; set the list's one item to False to make it answer 503."""
    state = [True]

    async def report() -> HealthReport:
        return HealthReport({"discord": HealthCheck(state[0], "connected" if state[0] else "not connected")})

    runner = await serve(
        create_metrics_app(Metrics(runtime=False), report), "127.0.0.1:0", header_timeout_seconds=15, max_connections=8
    )
    try:
        yield runner.addresses[0][1], state
    finally:
        await runner.cleanup()


async def run_probe(metrics_listen: str) -> int:
    """The Dockerfile's HEALTHCHECK command, with this interpreter as the image's python."""
    argv = healthcheck_command()
    assert argv[0] == "python"
    env = {**os.environ, **image_env(), "METRICS_LISTEN": metrics_listen, "PATH": os.environ.get("PATH", "")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv[1:], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), PROBE_TIMEOUT_SECONDS)


async def test_the_health_check_passes_when_healthz_answers_200(health_server: tuple[int, list[bool]]) -> None:
    port, _ = health_server
    # The image's METRICS_LISTEN host (0.0.0.0); the probe asks the loopback address on its port.
    host = image_env()["METRICS_LISTEN"].rpartition(":")[0]
    assert await run_probe(f"{host}:{port}") == 0


async def test_the_health_check_fails_when_healthz_answers_503(health_server: tuple[int, list[bool]]) -> None:
    port, state = health_server
    state[0] = False
    assert await run_probe(f"0.0.0.0:{port}") != 0


async def test_the_health_check_fails_when_nothing_listens() -> None:
    runner = await serve(
        create_metrics_app(Metrics(runtime=False), healthy), "127.0.0.1:0", header_timeout_seconds=15, max_connections=8
    )
    port = runner.addresses[0][1]
    await runner.cleanup()
    assert await run_probe(f"0.0.0.0:{port}") != 0


def systemd_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # configparser's documented way to keep case
    unit.read(ROOT / "deploy/reelbot.service", encoding="utf-8")
    return unit


def test_the_systemd_unit_does_not_restart_on_a_configuration_error() -> None:
    service = systemd_unit()["Service"]
    assert service["RestartPreventExitStatus"].split() == [str(int(ExitCode.USAGE))]
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"].endswith(" -m bot")


def test_the_systemd_unit_lets_the_bot_write_where_its_default_paths_lead() -> None:
    service = systemd_unit()["Service"]
    settings = Settings.from_env({"GATEWAY_BASE_URL": "http://127.0.0.1:1", "GATEWAY_API_KEY": "k"}, need_discord=False)
    writable = [Path(path) for path in service["ReadWritePaths"].split()]
    home = Path(service["WorkingDirectory"])
    for path in (settings.database_path, settings.results_dir):
        assert any((home / path).is_relative_to(root) for root in writable), f"{path} is writable under the unit"
