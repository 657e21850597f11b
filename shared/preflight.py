"""Pre-flight: are Redis and MySQL reachable? One line each with the fix when not (used by make run / test).

``python -m shared.preflight`` exits 0 when both answer. When one does not and a Docker engine answers, it
offers ``docker compose up -d redis mysql``; it never prints a traceback.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys

import aiomysql
import pymysql

from shared.bus import connect_redis
from shared.errors import DhanError
from shared.settings import Settings, load_settings

__all__ = ["check"]


async def _check_redis(settings: Settings) -> str | None:
    try:
        client = await connect_redis(settings)
        await client.aclose()
    except DhanError as exc:
        return str(exc)
    return None


async def _check_mysql(settings: Settings) -> str | None:
    target = settings.mysql.target
    try:
        conn = await asyncio.wait_for(aiomysql.connect(**target.connect_kwargs(with_db=False), connect_timeout=3), 5)
        conn.close()
    except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
        reason = str(exc.args[1] if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1 else exc)
        return (
            f"MySQL at {target.masked} is not reachable ({reason.splitlines()[0][:100]}); start MariaDB "
            "(start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) or set DHAN_MYSQL_URL"
        )
    return None


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


async def check(settings: Settings, *, need_mysql: bool = True) -> list[str]:
    problems = [p for p in [await _check_redis(settings)] if p]
    if need_mysql:
        problems += [p for p in [await _check_mysql(settings)] if p]
    return problems


def main() -> int:
    try:
        settings = load_settings()
    except DhanError as exc:
        print(f"dhan: error: {exc}", file=sys.stderr)
        return 2
    problems = asyncio.run(check(settings))
    if problems and _docker_engine():
        print("dhan: Redis/MySQL not reachable; starting them with: docker compose up -d redis mysql", file=sys.stderr)
        subprocess.run(["docker", "compose", "up", "-d", "--wait", "redis", "mysql"], check=False)
        problems = asyncio.run(check(settings))
    for p in problems:
        print(f"dhan: error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
