"""docker-compose.yml read without an engine: the schema, real commands, settings, loopback ports, healthchecks.

What a Docker engine would only tell at ``docker compose up`` (or, worse, at the first market open) is checked
here against the code: every command is a ``dhan`` sub-command that parses, every DHAN_* variable is a setting
and valid, every healthcheck URL is the port that service serves /health on, every published port is loopback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from scripts.gen_env_example import COMPOSE_VARIABLES
from shared.cli import COMMANDS
from shared.health import health_port
from shared.settings import ENV_FIELDS, Settings
from tests.deploy.deployfiles import (
    COMPOSE_FILE,
    DOCKERFILES,
    ENV_EXAMPLE,
    ROOT,
    interpolate,
    interpolated_names,
    load_compose,
    parse_dockerfile,
)

COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DHAN_BIN = Path(sys.executable).parent / "dhan"

# Headless services and their /health: every long-running dhan service has one.
HEADLESS = ("sim", "feed", "writer", "greeks", "monitor", "scheduler")
DESKTOP = ("control", "viz")
ONE_SHOTS = ("dbinit", "instruments")
RESTART = {**dict.fromkeys(HEADLESS, "on-failure"), **dict.fromkeys(ONE_SHOTS, "no"), "redis": "unless-stopped",
           "mysql": "unless-stopped", "control": "no", "viz": "no"}
PROFILES = {"sim": ["sim"], "control": ["control"], "viz": ["viz"]}
# Values a user puts in .env; used to resolve the file as docker compose would.
SAMPLE_ENV = {"REDIS_PASSWORD": "redis-pw-1", "MYSQL_PASSWORD": "mysql-pw-2", "MYSQL_ROOT_PASSWORD": "root-pw-3"}


def _image_kind(svc: dict[str, Any]) -> str | None:
    """'feed' / 'viz' for services built from our Dockerfiles, None for third-party images."""
    build = svc.get("build")
    if not build:
        return None
    dockerfile = build["dockerfile"] if isinstance(build, dict) else "Dockerfile"
    for kind, path in DOCKERFILES.items():
        if path.name == dockerfile:
            return kind
    raise AssertionError(f"unknown Dockerfile {dockerfile}")


OURS = {name: kind for name, svc in SERVICES.items() if (kind := _image_kind(svc))}


def _argv(name: str) -> list[str]:
    svc = SERVICES[name]
    image = parse_dockerfile(DOCKERFILES[OURS[name]])
    entrypoint = svc.get("entrypoint") or image.exec_form(image.final, "ENTRYPOINT") or []
    command = svc["command"] if "command" in svc else (image.exec_form(image.final, "CMD") or [])
    assert isinstance(entrypoint, list) and isinstance(command, list), f"{name}: use the list form"
    return [*entrypoint, *command]


def _environment(name: str) -> dict[str, str]:
    env = SERVICES[name].get("environment") or {}
    assert isinstance(env, dict), f"{name}: environment as a mapping"
    return {k: interpolate(str(v), SAMPLE_ENV) for k, v in env.items()}


def _settings_of(name: str) -> Settings:
    """The Settings a service's container builds: its compose environment over the defaults (no .env)."""
    env = {k.removeprefix("DHAN_").lower(): v for k, v in _environment(name).items() if k.startswith("DHAN_")}
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def test_compose_file_follows_the_compose_specification() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_expected_services_exist() -> None:
    assert set(SERVICES) == {"redis", "mysql", *ONE_SHOTS, *HEADLESS, *DESKTOP}
    assert {n for n, k in OURS.items() if k == "feed"} == {*ONE_SHOTS, *HEADLESS}
    assert {n for n, k in OURS.items() if k == "viz"} == set(DESKTOP)


@pytest.mark.parametrize("name", sorted(OURS))
def test_service_command_is_a_real_dhan_subcommand(name: str) -> None:
    argv = _argv(name)
    assert argv[0] == "dhan" and argv[1] in COMMANDS, argv
    if name in DESKTOP:
        if name == "viz":
            from viz.cli import WINDOWS

            assert argv[1] == "viz" and argv[2] in WINDOWS, argv
        try:
            available = __import__("importlib.util").util.find_spec(COMMANDS[argv[1]][0]) is not None
        except ModuleNotFoundError:
            available = False
        if not available:
            pytest.skip(f"{COMMANDS[argv[1]][0]} is not in the tree yet: only its COMMANDS entry is checked")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([str(DHAN_BIN), *argv[1:], "--help"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT / "tests", env=env)
    assert proc.returncode == 0, f"dhan {' '.join(argv[1:])} --help: {proc.stderr[-1500:]}"


def test_viz_entrypoint_takes_the_visualizer_name_from_compose_run() -> None:
    # `docker compose run viz option-chain` replaces command only: the entrypoint must end in "viz".
    assert SERVICES["viz"]["entrypoint"] == ["dhan", "viz"]


def test_every_variable_is_a_setting_and_in_env_example() -> None:
    """DHAN_* names are settings; the rest (${...} in the file, DISPLAY) are in the compose block of .env.example."""
    example = ENV_EXAMPLE.read_text()
    compose_block = {name for name, *_ in COMPOSE_VARIABLES}
    used: set[str] = set(interpolated_names(COMPOSE_FILE.read_text()))
    for name in OURS:
        used |= set(_environment(name))
    for path in DOCKERFILES.values():
        df = parse_dockerfile(path)
        used |= {k for k in df.env(df.final) if k.startswith("DHAN_")}
    fields = {f.env for f in ENV_FIELDS.values()}
    for var in sorted(used):
        if var.startswith("DHAN_") and var not in compose_block:
            assert var in fields, f"{var} is used by the deployment but is not a setting"
        else:
            assert var in compose_block, f"{var}: add it to COMPOSE_VARIABLES in scripts/gen_env_example.py"
        assert f"{var}=" in example, f"{var} missing from .env.example (rerun scripts/gen_env_example.py)"


def test_env_example_is_what_the_generator_writes() -> None:
    from scripts.gen_env_example import render

    assert ENV_EXAMPLE.read_text() == render(), "stale .env.example: run .venv/bin/python scripts/gen_env_example.py"


def test_dhan_services_read_env_file_and_reach_the_compose_services() -> None:
    mysql_env = SERVICES["mysql"]["environment"]
    for name in OURS:
        svc = SERVICES[name]
        assert svc.get("env_file") == ".env", f"{name}: settings come from .env"
        settings = _settings_of(name)  # valid values: Settings would refuse to start otherwise
        redis = urlsplit(settings.redis.url.get_secret_value())
        assert (redis.hostname, redis.port, redis.password) == ("redis", 6379, SAMPLE_ENV["REDIS_PASSWORD"])
        target = settings.mysql.target
        assert (target.host, target.port) == ("mysql", 3306), name
        assert target.user == mysql_env["MYSQL_USER"] and target.database == mysql_env["MYSQL_DATABASE"]
        assert target.password.get_secret_value() == SAMPLE_ENV["MYSQL_PASSWORD"]
        assert settings.sim.host == "sim", f"{name}: the feed dials the sim service by name"
    assert interpolate(SERVICES["mysql"]["environment"]["MYSQL_PASSWORD"], SAMPLE_ENV) == SAMPLE_ENV["MYSQL_PASSWORD"]
    assert "--host" in _argv("sim") and _argv("sim")[_argv("sim").index("--host") + 1] == "0.0.0.0"


def test_passwords_are_required_not_defaulted() -> None:
    for var in ("REDIS_PASSWORD", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"):
        with pytest.raises(KeyError):
            interpolate(SERVICES["redis" if var.startswith("REDIS") else "mysql"]["environment"][var],
                        {k: v for k, v in SAMPLE_ENV.items() if k != var})


def _published(name: str) -> list[tuple[str, str, str]]:
    out = []
    for entry in SERVICES[name].get("ports", []):
        if isinstance(entry, dict):
            out.append((str(entry.get("host_ip", "")), str(entry.get("published", "")), str(entry["target"])))
            continue
        text = interpolate(str(entry), SAMPLE_ENV)
        parts = text.split(":")
        assert len(parts) == 3, f"{name}: {entry}: publish as 127.0.0.1:HOST:CONTAINER"
        out.append((parts[0], parts[1], parts[2]))
    return out


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_published_ports_bind_to_loopback_only(name: str) -> None:
    for host_ip, published, target in _published(name):
        assert host_ip == "127.0.0.1", f"{name}: {published}:{target} is published on {host_ip or 'every address'}"


@pytest.mark.parametrize("name", HEADLESS)
def test_healthcheck_calls_the_services_own_health_endpoint(name: str) -> None:
    svc = SERVICES[name]
    test = svc["healthcheck"]["test"]
    assert test[:2] == ["CMD", "dhan-healthcheck"] and len(test) == 3, test
    url = urlsplit(test[2])
    settings = _settings_of(name)
    command = _argv(name)[1]
    expected_port = health_port(command, settings.service.health_port_base)
    assert expected_port is not None, f"{name}: health endpoints off in the container"
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", "127.0.0.1", expected_port, "/health")
    assert settings.service.health_host == "0.0.0.0", "bind every interface inside the container (published, scraped)"
    for _, published, target in _published(name):
        # the host port is a variable (a second stack, or the compose check, beside one on the defaults)
        assert int(target) == expected_port and published == target, f"{name}: publish the health port as is"
        default = interpolate(next(str(p) for p in svc["ports"]), {})
        assert default == f"127.0.0.1:{expected_port}:{expected_port}", f"{name}: default host port {default}"


def test_the_healthcheck_script_is_in_the_feed_image() -> None:
    df = parse_dockerfile(DOCKERFILES["feed"])
    copies = [rest.split() for rest in df.final.all("COPY")]
    assert ["docker/healthcheck.py", "/usr/local/bin/dhan-healthcheck"] in copies


@pytest.mark.parametrize("name", sorted(RESTART))
def test_restart_policy(name: str) -> None:
    assert SERVICES[name].get("restart", "no") == RESTART[name]


def test_dependencies_wait_for_healthy_state() -> None:
    deps = {name: SERVICES[name].get("depends_on", {}) for name in SERVICES}
    healthy = {"condition": "service_healthy"}
    assert deps["dbinit"] == {"mysql": healthy}
    # the scrip master comes from the simulator without a token: it must answer first
    assert deps["instruments"] == {"dbinit": {"condition": "service_completed_successfully"},
                                   "sim": {**healthy, "required": False}}
    assert deps["writer"] == {"redis": healthy, "mysql": healthy,
                              "dbinit": {"condition": "service_completed_successfully"}}
    assert deps["feed"]["redis"] == healthy
    assert deps["feed"]["sim"] == {"condition": "service_healthy", "required": False}
    for name in (*HEADLESS, *DESKTOP):
        assert deps[name].get("redis") == healthy, name
    for name in ("redis", "mysql"):
        assert SERVICES[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_logs_are_rotated(name: str) -> None:
    logging = SERVICES[name]["logging"]
    assert logging["driver"] == "json-file"
    assert logging["options"]["max-size"] and int(logging["options"]["max-file"]) >= 2


def test_profiles() -> None:
    for name, svc in SERVICES.items():
        assert svc.get("profiles") == PROFILES.get(name), name


def test_redis_is_durable_capped_and_password_protected() -> None:
    redis = SERVICES["redis"]
    script = " ".join(redis["command"])
    assert "--appendonly yes" in script and "--maxmemory" in script and "requirepass" in script
    assert "--maxmemory-policy noeviction" in script
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "REDIS_PASSWORD" not in " ".join(redis["healthcheck"]["test"]), "redis-cli reads REDISCLI_AUTH"


def test_mysql_keeps_binlogs_and_data_in_a_volume() -> None:
    mysql = SERVICES["mysql"]
    assert interpolate(mysql["image"], {}).startswith("mysql:8")
    assert "--log-bin=binlog" in mysql["command"]
    assert any(v.endswith(":/var/lib/mysql") for v in mysql["volumes"])


def test_feed_state_lives_in_volumes_at_the_configured_paths() -> None:
    settings = _settings_of("feed")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["feed"]["volumes"]}
    assert str(settings.publish.spool_dir) in mounts and str(settings.journal.dir) in mounts
    declared = set(COMPOSE.get("volumes") or {})
    assert {mounts[str(settings.publish.spool_dir)], mounts[str(settings.journal.dir)]} <= declared


@pytest.mark.parametrize("name", sorted(OURS))
def test_named_volumes_mount_on_directories_the_image_gives_its_user(name: str) -> None:
    # A named volume starts as a copy of the image's directory, owner included; a path missing from the image
    # becomes a root-owned volume the non-root service cannot write.
    declared = set(COMPOSE.get("volumes") or {})
    runtime = parse_dockerfile(DOCKERFILES[OURS[name]]).final
    setup = [r for r in runtime.all("RUN") if "mkdir" in r]
    for spec in SERVICES[name].get("volumes", []):
        source, target = interpolate(spec, {}).split(":")[:2]
        if source not in declared:
            continue  # a bind mount (the X11 socket)
        made = [r for r in setup if re.search(rf"mkdir -p [^&]*{re.escape(target)}(\s|$)", r)]
        assert made, f"{name}: {target} (volume {source}) is not created in {DOCKERFILES[OURS[name]].name}"
        assert any(re.search(rf"chown (-R )?dhan:dhan [^&]*{re.escape(target.rsplit('/', 1)[0])}", r)
                   for r in made), f"{name}: {target} is not owned by the service user"


def test_scheduler_does_not_run_its_own_feed_and_writer() -> None:
    # supervise mode would start a second feed and writer beside the compose services.
    assert _settings_of("scheduler").scheduler.mode == "control"


@pytest.mark.parametrize("name", DESKTOP)
def test_desktop_services_reach_the_x_server(name: str) -> None:
    svc = SERVICES[name]
    assert "DISPLAY" in svc["environment"]
    assert any(interpolate(v, {}).split(":")[1] == "/tmp/.X11-unix" for v in svc["volumes"])


def test_base_images_are_variables_defaulting_to_the_public_pins() -> None:
    # A private registry, an air-gapped host or the stand-ins of scripts/standin-images.sh set these.
    defaults = {name: value for name, value, *_ in COMPOSE_VARIABLES}
    for kind, path in DOCKERFILES.items():
        pinned = parse_dockerfile(path).args["PYTHON_IMAGE"]
        for name in (n for n, k in OURS.items() if k == kind):
            arg = SERVICES[name]["build"]["args"]["PYTHON_IMAGE"]
            assert interpolate(arg, {}) == pinned == defaults["DHAN_PYTHON_IMAGE"], name
            assert interpolate(arg, {"DHAN_PYTHON_IMAGE": "registry.lan/python:3.11"}) == "registry.lan/python:3.11"
    for service, var in (("redis", "DHAN_REDIS_IMAGE"), ("mysql", "DHAN_MYSQL_IMAGE")):
        image = SERVICES[service]["image"]
        assert interpolate(image, {}) == defaults[var], service
        assert interpolate(image, {var: f"registry.lan/{service}:x"}) == f"registry.lan/{service}:x"


def test_our_images_are_tagged_by_a_variable() -> None:
    for name, kind in OURS.items():
        image = SERVICES[name]["image"]
        assert interpolate(image, {}) == f"dhan-trading/{kind}:local", name
        assert interpolate(image, {"DHAN_IMAGE_TAG": "2026-12-04"}) == f"dhan-trading/{kind}:2026-12-04", name
