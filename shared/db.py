"""MySQL/MariaDB access in one place: pool factory, schema set-up and the schema-version check.

Every connection runs with the same session ``sql_mode`` (:data:`SESSION_SQL_MODE`) whatever the server's
default: strict (a value that does not fit is an error, never silently truncated), backslash escapes on,
no ``ANSI_QUOTES``, and without MariaDB's ``SIMULTANEOUS_ASSIGNMENT`` (the writer's forward-only upserts
rely on ``ON DUPLICATE KEY UPDATE`` assigning left to right, as both servers do by default).
Errors become one-line :class:`MySQLUnavailable` / :class:`SchemaMismatch` with the URL masked.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import aiomysql
import pymysql

from shared.clock import ist_now
from shared.errors import ConfigError, MySQLUnavailable, SchemaMismatch
from shared.logs import clip
from shared.schema import SCHEMA_VERSION, apply_migrations, ensure_partitions, read_version
from shared.settings import Settings

__all__ = [
    "DB_NAME_RE",
    "ROW_ERROR_CODES",
    "SCHEMA_VERSION",
    "SESSION_SQL_MODE",
    "check_schema",
    "checked_database_name",
    "close_pool",
    "connect",
    "create_pool",
    "init_schema",
    "mysql_unavailable",
]

SESSION_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
INIT_COMMAND = f"SET SESSION sql_mode = '{SESSION_SQL_MODE}'"
CONNECT_TIMEOUT_S = 5
POOL_RECYCLE_S = 3600
DB_NAME_RE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_ER_ACCESS_DENIED = 1045
# Server errors that blame a value of a row (null, duplicate, out of range, truncated, wrong value, data too
# long, no partition for the date, check constraint): the same statement fails again, whatever the retries,
# so its entry is dead-lettered. 1526 happens only when dhan_ticks lost its catch-all pmax (which raises the
# writer's partition alert); as a row error it holds up that day's ticks, not every stream behind them.
ROW_ERROR_CODES = frozenset({1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1526, 1690, 3819, 4025})
_ER_BAD_DB = 1049
_CONNECTION_LOST = frozenset({2003, 2006, 2013})


def checked_database_name(name: str) -> str:
    """``name``, which DDL writes between backquotes; :class:`ConfigError` unless it is 1 to 64 letters,
    digits, '_' or '$' (what a database may be named without quoting, and nothing that could end the quote)."""
    if not DB_NAME_RE.match(name):
        raise ConfigError(f"database name {name!r} in DHAN_MYSQL_URL must be 1 to 64 letters, digits, '_' or '$'")
    return name


def mysql_unavailable(settings: Settings, cause: BaseException | str) -> MySQLUnavailable:
    """One-line error for an unreachable server: masked URL, first line of the cause, and the fix."""
    text = (
        str(cause.args[1])
        if isinstance(cause, pymysql.err.MySQLError) and len(cause.args) > 1
        else str(cause)
    )
    text = clip(text, 160) or (type(cause).__name__ if isinstance(cause, BaseException) else "")
    return MySQLUnavailable(
        f"MySQL at {settings.mysql.target.masked} is not reachable ({text}); "
        "start it (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) "
        "or set DHAN_MYSQL_URL"
    )


def _translate(settings: Settings, exc: BaseException) -> Exception:
    code = exc.args[0] if isinstance(exc, pymysql.err.MySQLError) and exc.args else None
    if code == _ER_BAD_DB:
        return SchemaMismatch(f"database {settings.mysql.target.database!r} does not exist: run dhan db init")
    if code == _ER_ACCESS_DENIED:
        return MySQLUnavailable(
            f"MySQL at {settings.mysql.target.masked} refused our credentials; check DHAN_MYSQL_URL"
        )
    return mysql_unavailable(settings, exc)


def _connect_kwargs(settings: Settings, *, with_db: bool = True) -> dict[str, Any]:
    kwargs = settings.mysql.target.connect_kwargs(with_db=with_db)
    kwargs["init_command"] = INIT_COMMAND
    kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
    return kwargs


async def connect(settings: Settings, *, with_db: bool = True) -> aiomysql.Connection:
    """One connection (for admin commands and tests); the caller closes it."""
    try:
        return await aiomysql.connect(**_connect_kwargs(settings, with_db=with_db))
    except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
        raise _translate(settings, exc) from None


async def create_pool(settings: Settings, *, minsize: int = 1, maxsize: int | None = None) -> aiomysql.Pool:
    """An aiomysql pool of ``maxsize`` (default ``settings.writer.pool_size``) connections to the database."""
    size = maxsize if maxsize is not None else settings.writer.pool_size
    try:
        return await aiomysql.create_pool(
            minsize=min(minsize, size), maxsize=size, pool_recycle=POOL_RECYCLE_S, **_connect_kwargs(settings)
        )
    except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
        raise _translate(settings, exc) from None


async def close_pool(pool: aiomysql.Pool) -> None:
    """Close ``pool`` and every connection in it, the acquired ones included: a connection a cancelled query
    still held is closed now rather than left to the garbage collector (an unraisable ResourceWarning in some
    later code). ``terminate`` closes the idle connections before ``wait_closed``'s first await, so a second
    cancellation during the wait strands none either."""
    pool.terminate()
    await pool.wait_closed()


async def init_schema(settings: Settings, *, today: date | None = None, months_ahead: int = 12) -> int:
    """Create the database if missing, apply pending migrations, add monthly partitions ahead.

    Idempotent; returns the schema version now in place.
    """
    name = checked_database_name(settings.mysql.target.database)
    conn = await connect(settings, with_db=False)
    try:
        async with conn.cursor() as cur:
            # "already exists" notes of the idempotent DDL are expected; unrecorded, they cost no round trip.
            await cur.execute("SET SESSION sql_notes = 0")
            await cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        await conn.select_db(name)
        version = await apply_migrations(conn)
        await ensure_partitions(conn, today=today or ist_now().date(), months_ahead=months_ahead)
        await conn.commit()
        return version
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else None
        if code in _CONNECTION_LOST:
            raise mysql_unavailable(settings, exc) from None
        raise SchemaMismatch(f"dhan db init failed on {settings.mysql.target.masked}: {exc.args[-1]}") from None
    finally:
        conn.close()


def _mismatch(database: str, found: int) -> SchemaMismatch:
    if found > SCHEMA_VERSION:
        return SchemaMismatch(
            f"database {database!r} has schema version {found}, newer than this code's {SCHEMA_VERSION}: "
            "upgrade dhan-trading"
        )
    return SchemaMismatch(
        f"database {database!r} has schema version {found}, this code needs {SCHEMA_VERSION}: "
        "run dhan db init"
    )


async def check_schema(pool: aiomysql.Pool) -> None:
    """Raise :class:`SchemaMismatch` (one line: run dhan db init) unless the schema is ``SCHEMA_VERSION``."""
    async with pool.acquire() as conn:
        found = await read_version(conn)
        await conn.rollback()
        if found != SCHEMA_VERSION:
            raise _mismatch(str(conn.db), found)
