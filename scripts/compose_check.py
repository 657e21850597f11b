"""``make compose-check``: the compose stack proven on a running Docker engine, from build to ``down -v``.

It works in a copy of the working tree under its own compose project name, with an .env of its own (generated
passwords, free host ports, the sim profile, image tag ``check``), so a developer's .env, images and running
stack are untouched; ``down -v`` runs at the end, after a failure or Ctrl-C too. Where no image registry
answers (local/debian:bookworm present, see ../shared/tools/docker-engine.sh) it builds stand-ins for the
public base images first (scripts/standin-images.sh); ``--public-images`` uses the public ones.

Steps (each bounded; a failure is one line naming the service; logs, redacted, in var/compose-check/):
build both images -> ``up -d`` -> every service healthy -> rows in the six tables -> the feed killed with
SIGKILL (a crash: Docker restarts it) -> new rows; feed stopped, writer drained, ``dhan verify`` in a container
on the journal volume: 0 lost, 0 duplicated; ``docker/backup.sh full`` and ``binlog``, the journal archived ->
feed started -> ``restart redis``: feed and writer recover, the monitor's redis_unreachable alert fires and
clears -> two visualizers drawn on an Xvfb display of this host through the X socket, grabbed from the X server
into docs/screenshots/compose-*.png, their settings saved in their volume -> ``down`` and ``up``: rows and
journal kept, uid 10001 writes the volumes -> the backup restored into a fresh mysql volume (the README's way)
-> ``down -v``. Then one summary line.

One setting differs from a user's .env: the simulator's session clock is open now, so trades flow at any hour.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from scripts.compose_steps import Steps
from scripts.compose_tools import CheckFailed, Compose, Redactor, StandIns, free_port, make_workspace, write_env

REPO = Path(__file__).resolve().parents[1]
BASE_IMAGE = "local/debian:bookworm"
PROFILE_SERVICES = ("redis", "mysql", "dbinit", "instruments", "sim", "feed", "writer", "greeks", "monitor",
                    "scheduler")


def _standins(public: bool, log: Path) -> StandIns | None:
    """The stand-in builder where no registry answers (the base image of docker-engine.sh is here)."""
    if public or subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode != 0:
        return None
    return StandIns(REPO / "scripts" / "standin-images.sh", log)


def _env_values(images: dict[str, str]) -> dict[str, str]:
    return {
        "COMPOSE_PROJECT_NAME": f"dhancheck{secrets.token_hex(3)}",
        "COMPOSE_PROFILES": "sim",
        "REDIS_PASSWORD": secrets.token_hex(16),
        "MYSQL_PASSWORD": secrets.token_hex(16),
        "MYSQL_ROOT_PASSWORD": secrets.token_hex(16),
        "REDIS_HOST_PORT": str(free_port()), "MYSQL_HOST_PORT": str(free_port()),
        "SIM_HOST_PORT": str(free_port()), "FEED_HOST_PORT": str(free_port()),
        "MONITOR_HOST_PORT": str(free_port()), "SCHEDULER_HOST_PORT": str(free_port()),
        "REDIS_MAXMEMORY": "512mb", "MYSQL_INNODB_BUFFER_POOL_SIZE": "256M",
        "DHAN_IMAGE_TAG": "check",
        "DHAN_SIM_SESSION_CLOCK": "open",
        **images,
    }


def _process_env(values: dict[str, str]) -> dict[str, str]:
    """This process's environment without what would override the check's .env (the shell wins in compose)."""
    drop = set(values) | {"DISPLAY", "X11_SOCKET_DIR", "COMPOSE_FILE", "COMPOSE_PROFILES"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DHAN_")}


def _on_sigterm(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    logs = REPO / "var" / "compose-check"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    t_start = time.monotonic()
    standins = _standins(args.public_images, logs / "standins.log")
    values = _env_values(standins.env() if standins else {})
    redact = Redactor([values["REDIS_PASSWORD"], values["MYSQL_PASSWORD"], values["MYSQL_ROOT_PASSWORD"]])
    with tempfile.TemporaryDirectory(prefix="dhan-compose-check-") as tmp:
        work = Path(tmp)
        make_workspace(REPO, work)
        write_env(work / ".env", values)
        compose = Compose(work, _process_env(values), redact, logs / "compose.log")
        steps = Steps(compose, values["COMPOSE_PROJECT_NAME"], REPO, logs, PROFILE_SERVICES, standins)
        try:
            steps.run_all(shots=REPO / "docs" / "screenshots")
        except CheckFailed as exc:
            print(f"compose-check: FAILED: {redact(str(exc))} (logs: {logs.relative_to(REPO)}/)", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("compose-check: interrupted; removing the project", file=sys.stderr)
            return 130
        finally:
            steps.teardown()
    steps.times["total_s"] = time.monotonic() - t_start
    print(steps.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compose-check", description=__doc__.splitlines()[0])
    parser.add_argument("--public-images", action="store_true",
                        help="build on python:3.11-slim and run redis:7.4 / mysql:8.4 (a registry must answer)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        subprocess.run(["docker", "info"], capture_output=True, check=True, timeout=30)
        subprocess.run(["docker", "compose", "version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        print("compose-check: no Docker engine with compose answers (docker info failed)", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
