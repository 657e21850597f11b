"""The real stack under a Docker engine (testcontainers): images build, feed and writer turn healthy, rows arrive.

Marked ``docker`` and skipped where ``docker info`` fails (the development machines have the CLI but no
engine). It runs on a copy of the build context in tmp with an .env of its own (unique project name,
passwords, free host ports for Redis and MySQL, the sim profile, a session clock open now), so a developer's
.env and running stack are left alone. ``down --volumes`` at the end removes what it created.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.conftest import eventually, free_port
from tests.deploy.deployfiles import ROOT, DockerIgnore


def _engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=15)
        compose = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0 and compose.returncode == 0


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not _engine(), reason="no Docker engine with compose (docker info failed)"),
]


def _copy_context(target: Path) -> None:
    ignore = DockerIgnore(ROOT / ".dockerignore")
    keep = ("docker-compose.yml", "Dockerfile.feed", "Dockerfile.viz", ".dockerignore", "pyproject.toml",
            "setup.py", "README.md", "docker", "shared", "feed", "writer", "control", "viz")
    for name in keep:
        src = ROOT / name
        if src.is_dir():
            for item in src.rglob("*"):
                rel = item.relative_to(ROOT).as_posix()
                if item.is_file() and not ignore.ignored(rel):
                    out = target / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(item, out)
        else:
            shutil.copy2(src, target / name)


@pytest.fixture
def compose_project(tmp_path: Path) -> Iterator[tuple[object, dict[str, str]]]:
    from testcontainers.compose import DockerCompose

    _copy_context(tmp_path)
    env = {
        "COMPOSE_PROJECT_NAME": f"dhantest{uuid.uuid4().hex[:8]}",
        "COMPOSE_PROFILES": "sim",
        "REDIS_PASSWORD": uuid.uuid4().hex,
        "MYSQL_PASSWORD": uuid.uuid4().hex,
        "MYSQL_ROOT_PASSWORD": uuid.uuid4().hex,
        "REDIS_HOST_PORT": str(free_port()),
        "MYSQL_HOST_PORT": str(free_port()),
        "REDIS_MAXMEMORY": "512mb",
        "MYSQL_INNODB_BUFFER_POOL_SIZE": "256M",
        "DHAN_SIM_SESSION_CLOCK": "open",
    }
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    compose = DockerCompose(context=tmp_path, compose_file_name="docker-compose.yml", build=True, wait=False,
                            profiles=["sim"])
    compose.start()
    try:
        yield compose, env
    finally:
        stdout, stderr = compose.get_logs()
        (tmp_path / "compose.log").write_text(stdout + stderr)
        compose.stop()  # down --volumes


@pytest.mark.timeout(1800)
async def test_stack_comes_up_healthy_and_rows_arrive(compose_project: tuple[object, dict[str, str]]) -> None:
    compose, env = compose_project

    def health(service: str) -> str:
        container = compose.get_container(service)  # type: ignore[attr-defined]
        return str(container.Health or container.State)

    async def healthy() -> bool:
        states = await asyncio.to_thread(lambda: {s: health(s) for s in ("sim", "feed", "writer")})
        return all(v == "healthy" for v in states.values())

    await eventually(healthy, timeout_s=300, interval_s=2, message="sim, feed and writer healthy")
    for service in ("greeks", "monitor", "scheduler"):
        await eventually(lambda s=service: asyncio.to_thread(lambda: health(s) == "healthy"),  # type: ignore[misc]
                         timeout_s=180, interval_s=2, message=f"{service} healthy")

    def ticks() -> int:
        conn = pymysql.connect(host="127.0.0.1", port=int(env["MYSQL_HOST_PORT"]), user="dhan",
                               password=env["MYSQL_PASSWORD"], database="dhan_trading")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM dhan_ticks")
                row = cur.fetchone()
                return int(row[0]) if row else 0
        finally:
            conn.close()

    async def rows() -> bool:
        return await asyncio.to_thread(ticks) > 0

    await eventually(rows, timeout_s=120, interval_s=2, message="ticks in MySQL (through the mysql container)")
