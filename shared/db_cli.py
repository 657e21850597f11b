"""``dhan db init | status | create-user``: set up, inspect and secure the MySQL schema.

* ``init``: create the database if missing, apply pending migrations, add monthly ``dhan_ticks``
  partitions ahead (idempotent; run it again any time, e.g. yearly for partitions).
* ``status``: schema version applied vs expected, table sizes, partitions.
* ``create-user --user U --password-env VAR``: a least-privilege application user (SELECT, INSERT,
  UPDATE, DELETE on the database only). The password is read from the environment variable named
  ``VAR``, so it never appears in the command line, the shell history or ``ps``.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

import pymysql

from shared.db import SCHEMA_VERSION, checked_database_name, connect, init_schema
from shared.errors import ConfigError, MySQLUnavailable
from shared.schema import PARTITIONED_TABLES, SELECT_PARTITIONS, read_version
from shared.settings import Settings

__all__ = ["HELP", "IS_SERVICE", "add_arguments", "run"]

HELP = "database schema: dhan db init | status | create-user"
IS_SERVICE = False

_USER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9_.%:-]{1,255}$")
APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{init,status,create-user}")
    init = sub.add_parser("init", help="create or migrate the schema (idempotent)")
    init.add_argument(
        "--months-ahead",
        type=int,
        default=None,
        metavar="N",
        help="monthly dhan_ticks partitions to keep ahead (default DHAN_WRITER_PARTITION_MONTHS_AHEAD)",
    )
    sub.add_parser("status", help="schema version, table sizes and partitions")
    user = sub.add_parser("create-user", help="least-privilege application user on the database")
    user.add_argument("--user", required=True, help="user name to create (or whose password to reset)")
    user.add_argument(
        "--password-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding the password",
    )
    user.add_argument("--host", default="%", help="host part of the account (default %%: any)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "init":
        months = (
            args.months_ahead if args.months_ahead is not None else settings.writer.partition_months_ahead
        )
        version = await init_schema(settings, months_ahead=months)
        print(
            f"schema of {settings.mysql.target.masked} is at version {version} "
            f"(dhan_ticks partitioned {months} months ahead)"
        )
        return 0
    if args.action == "status":
        return await _status(settings)
    return await _create_user(settings, args.user, args.password_env, args.host)


async def _status(settings: Settings) -> int:
    conn = await connect(settings)
    try:
        version = await read_version(conn)
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE %s ORDER BY TABLE_NAME",
                ("dhan\\_%",),
            )
            tables: list[Any] = list(await cur.fetchall())
            partitions: dict[str, list[str]] = {}
            for table in PARTITIONED_TABLES:
                await cur.execute(SELECT_PARTITIONS, (table,))
                partitions[table] = [str(name) for name, _ in await cur.fetchall()]
        await conn.rollback()
    finally:
        conn.close()
    state = "ok" if version == SCHEMA_VERSION else "MISMATCH: run dhan db init"
    print(f"database   {settings.mysql.target.masked}")
    print(f"schema     version {version} (this code: {SCHEMA_VERSION}) {state}")
    for name, rows, size in tables:
        print(f"  {name:<22} ~{int(rows or 0):>12,} rows  {int(size or 0) / 1e6:>10.1f} MB")
    for table, names in partitions.items():
        monthly = [p for p in names if p != "pmax"]
        if monthly:
            print(f"partitions {table}: {len(monthly)} monthly, {monthly[0]} .. {monthly[-1]}, + pmax")
    return 0 if version == SCHEMA_VERSION else 6


async def _create_user(settings: Settings, user: str, password_env: str, host: str) -> int:
    if not _USER_RE.match(user):
        raise ConfigError(f"--user {user!r}: use letters, digits, '_', '.', '-' (max 32)")
    if not _HOST_RE.match(host):
        raise ConfigError(f"--host {host!r} is not a host name, address or pattern")
    password = os.environ.get(password_env, "")  # the operator's variable, named on the command line
    if not password:
        raise ConfigError(
            f"environment variable {password_env} is not set or empty: export the password there"
        )
    database = checked_database_name(settings.mysql.target.database)
    conn = await connect(settings, with_db=False)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SET SESSION sql_notes = 0")
            await cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
            await cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
            await cur.execute(f"GRANT {APP_PRIVILEGES} ON `{database}`.* TO %s@%s", (user, host))
        await conn.commit()
    except pymysql.err.MySQLError as exc:
        raise MySQLUnavailable(
            f"creating user {user!r} failed: {str(exc.args[-1]).splitlines()[0][:160]}"
        ) from None
    finally:
        conn.close()
    target = settings.mysql.target
    print(f"user '{user}'@'{host}' may {APP_PRIVILEGES} on {database} only")
    print(f"use DHAN_MYSQL_URL=mysql://{user}:***@{target.host}:{target.port}/{database}")
    print("partition maintenance needs ALTER: run 'dhan db init' as an admin once a year")
    return 0
