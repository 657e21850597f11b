"""Schema migrations and partition maintenance: the SQL files beside this module, applied in order.

A migration is ``NNN_name.sql``: statements separated by a semicolon at the end of a line, ``--`` comment
lines ignored. Applied versions are rows of ``dhan_schema_version``; :func:`apply_migrations` runs the
missing ones under a server lock (``GET_LOCK``), so two ``dhan db init`` at once apply each file once.
MySQL commits DDL implicitly, so every statement is written to be idempotent (``IF NOT EXISTS``): a
migration interrupted half-way is run again from its start.

``dhan_ticks``, ``dhan_depth20_history`` and ``dhan_candles_1m`` are RANGE COLUMNS partitioned by month with
a catch-all ``pmax``; :func:`ensure_partitions` splits monthly partitions off ``pmax`` ahead of time
(``REORGANIZE PARTITION``, which is instant while ``pmax`` is empty and works the same on MySQL 8 and
MariaDB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

__all__ = [
    "MIGRATIONS_DIR",
    "PARTITIONED_TABLES",
    "SCHEMA_VERSION",
    "Migration",
    "apply_migrations",
    "ensure_partitions",
    "load_migrations",
    "plan_partitions",
    "read_version",
    "split_statements",
]

MIGRATIONS_DIR = Path(__file__).parent
VERSION_TABLE = "dhan_schema_version"
TICKS_TABLE = "dhan_ticks"
DEPTH20_HISTORY_TABLE = "dhan_depth20_history"
CANDLES_TABLE = "dhan_candles_1m"
PARTITIONED_TABLES = (TICKS_TABLE, DEPTH20_HISTORY_TABLE, CANDLES_TABLE)  # monthly by trade_date, each with a pmax
INIT_LOCK = "dhan_schema_init"
PARTITION_LOCK = "dhan_ticks_partitions"
_FILE_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

CREATE_VERSION_TABLE = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INT UNSIGNED NOT NULL,
    name VARCHAR(128) NOT NULL,
    applied_at DATETIME(6) NOT NULL,
    PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""
SELECT_VERSION = f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}"
INSERT_VERSION = f"INSERT INTO {VERSION_TABLE} (version, name, applied_at) VALUES (%s, %s, UTC_TIMESTAMP(6))"
SELECT_PARTITIONS = (
    "SELECT PARTITION_NAME, PARTITION_DESCRIPTION FROM information_schema.PARTITIONS "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND PARTITION_NAME IS NOT NULL"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(text: str) -> list[str]:
    """Statements of a migration file: ``;`` at the end of a line ends one; ``--`` lines are comments."""
    out: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            out.append("\n".join(current).strip().rstrip(";").strip())
            current = []
    tail = "\n".join(current).strip()
    if tail:
        out.append(tail)
    return out


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            continue
        found.append(
            Migration(int(match.group(1)), match.group(2), tuple(split_statements(path.read_text("utf-8"))))
        )
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(
            f"schema migrations must be numbered 001, 002, ... without gaps (found {versions})"
        )
    return found


SCHEMA_VERSION = len(load_migrations())


async def read_version(conn: Any) -> int:
    """Applied schema version on ``conn``'s current database; 0 when the version table is missing."""
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (VERSION_TABLE,),
        )
        (exists,) = await cur.fetchone()
        if not exists:
            return 0
        await cur.execute(SELECT_VERSION)
        (version,) = await cur.fetchone()
        return int(version)


async def apply_migrations(conn: Any, *, lock_timeout_s: int = 60) -> int:
    """Apply the missing migrations on ``conn``'s current database; returns the resulting version."""
    async with conn.cursor() as cur:
        await cur.execute("SELECT GET_LOCK(%s, %s)", (INIT_LOCK, lock_timeout_s))
        (got,) = await cur.fetchone()
        if got != 1:
            raise TimeoutError(f"another 'dhan db init' held the schema lock for {lock_timeout_s}s")
        try:
            await cur.execute(CREATE_VERSION_TABLE)
            await cur.execute(SELECT_VERSION)
            (current,) = await cur.fetchone()
            current = int(current)
            for migration in load_migrations():
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    await cur.execute(statement)
                await cur.execute(INSERT_VERSION, (migration.version, migration.name))
                await conn.commit()
                current = migration.version
            return current
        finally:
            await cur.execute("SELECT RELEASE_LOCK(%s)", (INIT_LOCK,))
            await cur.fetchone()


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def plan_partitions(
    existing: list[tuple[str, str]], today: date, *, months_ahead: int, months_back: int = 1
) -> list[tuple[str, date]]:
    """Monthly partitions to add so that months up to ``today + months_ahead`` have their own.

    ``existing`` is ``(name, PARTITION_DESCRIPTION)`` from information_schema (``'2025-02-01'`` or
    ``MAXVALUE``). Returns ``(pYYYYMM, first day of the next month)`` in ascending order. The first
    partition ever made starts ``months_back`` before ``today`` and also holds anything older.
    """
    bounds = [date.fromisoformat(desc.strip("'\"")) for _, desc in existing if desc and desc != "MAXVALUE"]
    start = max(bounds) if bounds else _add_months(today.replace(day=1), -months_back)
    last_bound = _add_months(today.replace(day=1), months_ahead + 1)
    plan: list[tuple[str, date]] = []
    month = start
    while month < last_bound:
        bound = _add_months(month, 1)
        plan.append((f"p{month.year:04d}{month.month:02d}", bound))
        month = bound
    return plan


async def ensure_partitions(
    conn: Any, *, today: date, months_ahead: int = 12, lock_timeout_s: int = 30
) -> list[str]:
    """Split monthly partitions of every table in :data:`PARTITIONED_TABLES` off its ``pmax`` up to
    ``months_ahead``; returns the partition names added (each month once, in order, whichever tables gained it).

    Raises ``TimeoutError`` when another session holds the maintenance lock for ``lock_timeout_s`` and
    ``RuntimeError`` when a table has no ``pmax`` to split.
    """
    async with conn.cursor() as cur:
        await cur.execute("SELECT GET_LOCK(%s, %s)", (PARTITION_LOCK, lock_timeout_s))
        (got,) = await cur.fetchone()
        if got != 1:
            raise TimeoutError(f"another session held the partition maintenance lock for {lock_timeout_s}s")
        try:
            added: list[str] = []
            for table in PARTITIONED_TABLES:
                for name in await _split_pmax(cur, table, today, months_ahead):
                    if name not in added:
                        added.append(name)
            return sorted(added)
        finally:
            await cur.execute("SELECT RELEASE_LOCK(%s)", (PARTITION_LOCK,))
            await cur.fetchone()


async def _split_pmax(cur: Any, table: str, today: date, months_ahead: int) -> list[str]:
    await cur.execute(SELECT_PARTITIONS, (table,))
    existing = [(str(name), str(desc)) for name, desc in await cur.fetchall()]
    if not any(name == "pmax" for name, _ in existing):
        raise RuntimeError(f"{table} has no pmax partition; it was not created by dhan db init")
    plan = plan_partitions(existing, today, months_ahead=months_ahead)
    if not plan:
        return []
    parts = ", ".join(f"PARTITION {name} VALUES LESS THAN ('{bound.isoformat()}')" for name, bound in plan)
    await cur.execute(
        f"ALTER TABLE {table} REORGANIZE PARTITION pmax INTO ({parts}, PARTITION pmax VALUES LESS THAN (MAXVALUE))"
    )
    return [name for name, _ in plan]
