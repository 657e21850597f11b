"""Settings sections every service shares: the Dhan account, Redis, MySQL, streams, service basics, logging,
the scrip master. See :mod:`shared.settings` for how sections are read and built.

A section is a frozen model whose fields each name their environment variable as the alias (``DHAN_*``, fixed
by DESIGN.md and listed with its default in ``.env.example``).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.errors import ConfigError

__all__ = [
    "DhanSettings", "InstrumentsSettings", "LogSettings", "MySQLSettings", "MySQLTarget", "RedisSettings",
    "Section", "ServiceSettings", "StreamsSettings", "mask_url",
]  # fmt: skip


def mask_url(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``; token-like query values masked too."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        cred, host = netloc.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in cred else f"{user}@{host}"
    query = "&".join(
        (kv.split("=", 1)[0] + "=***") if kv.lower().startswith(("token=", "password=")) else kv
        for kv in parts.query.split("&")
        if kv
    )
    out = f"{parts.scheme}://{netloc}{parts.path}"
    return out + (f"?{query}" if query else "")


class Section(BaseModel):
    """A group of settings: frozen; each field's alias is its environment variable."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)


class MySQLTarget:
    """Parsed ``DHAN_MYSQL_URL``: what aiomysql needs, with the password kept secret."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+aiomysql"):
            raise ConfigError(f"DHAN_MYSQL_URL must start with mysql:// (got {parts.scheme or 'nothing'}://)")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.user = unquote(parts.username or "root")
        self.password = SecretStr(unquote(parts.password or ""))
        self.database = (parts.path or "/").lstrip("/") or "dhan_trading"
        self.masked = mask_url(url)

    def connect_kwargs(self, *, with_db: bool = True) -> dict[str, object]:
        kw: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value(),
            "autocommit": False,
            "charset": "utf8mb4",
        }
        if with_db:
            kw["db"] = self.database
        return kw


class DhanSettings(Section):
    """The Dhan account; both unset: the feed uses the simulator."""

    client_id: str | None = Field(None, alias="DHAN_CLIENT_ID", description="Dhan client id; unset: use the simulator")
    access_token: SecretStr | None = Field(
        None, alias="DHAN_ACCESS_TOKEN", description="Dhan access token; unset: use the simulator"
    )


class RedisSettings(Section):
    url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), alias="DHAN_REDIS_URL", description="Redis URL")
    key_prefix: str = Field("dhan:", alias="DHAN_KEY_PREFIX", description="prefix of every Redis key and channel")

    @field_validator("key_prefix")
    @classmethod
    def _prefix_ok(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("must be non-empty without spaces, e.g. 'dhan:'")
        return v

    @property
    def url_masked(self) -> str:
        return mask_url(self.url.get_secret_value())


class MySQLSettings(Section):
    url: SecretStr = Field(
        SecretStr("mysql://root@127.0.0.1:3306/dhan_trading"), alias="DHAN_MYSQL_URL",
        description="mysql://user:password@host:port/db",
    )  # fmt: skip

    @property
    def target(self) -> MySQLTarget:
        return MySQLTarget(self.url.get_secret_value())


class StreamsSettings(Section):
    """Length caps (``MAXLEN ~``) of the market-data streams."""

    maxlen_quotes: int = Field(
        2_000_000, ge=1000, alias="DHAN_STREAM_MAXLEN_QUOTES", description="MAXLEN ~ of dhan:quotes"
    )
    maxlen_ticks: int = Field(
        5_000_000, ge=1000, alias="DHAN_STREAM_MAXLEN_TICKS", description="MAXLEN ~ of dhan:ticks"
    )
    maxlen_depth: int = Field(
        1_000_000, ge=1000, alias="DHAN_STREAM_MAXLEN_DEPTH", description="MAXLEN ~ of dhan:depth"
    )
    maxlen_greeks: int = Field(
        1_000_000, ge=1000, alias="DHAN_STREAM_MAXLEN_GREEKS", description="MAXLEN ~ of dhan:greeks"
    )
    # depth-feed branch: ~1.2 KB a 20-level book; 100,000 is ~120 MB of Redis, ~8 min of the auto set's books
    maxlen_depth20: int = Field(
        100_000, ge=1000, alias="DHAN_STREAM_MAXLEN_DEPTH20", description="MAXLEN ~ of dhan:depth20"
    )


class ServiceSettings(Section):
    """What every service shares: heartbeats, shutdown, the /health and /metrics endpoints."""

    shutdown_deadline_s: float = Field(
        5.0, gt=0, alias="DHAN_SHUTDOWN_DEADLINE_S", description="longest clean shutdown before tasks are cancelled"
    )
    heartbeat_interval_s: float = Field(
        1.0, gt=0, alias="DHAN_HEARTBEAT_INTERVAL_S", description="heartbeat period of every service"
    )
    health_port_base: int = Field(
        9300, ge=0, le=65000, alias="DHAN_HEALTH_PORT_BASE",
        description="each service serves /health and /metrics on this port + its offset (sim 0, feed 1, writer 2, "
                    "greeks 3, monitor 4, scheduler 5); 0: off",
    )  # fmt: skip
    health_host: str = Field(
        "127.0.0.1", alias="DHAN_HEALTH_HOST",
        description="address the health endpoints bind (0.0.0.0 in containers)",
    )  # fmt: skip
    event_loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto", alias="DHAN_EVENT_LOOP",
        description="event loop of the services: 'auto' uvloop when installed (pip install 'dhan-trading[fast]'), "
                    "else asyncio's; measured in bench/stack.py",
    )  # fmt: skip


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", alias="DHAN_LOG_LEVEL", description="log level")
    format: Literal["auto", "json", "console"] = Field(
        "auto", alias="DHAN_LOG_FORMAT", description="auto: console on a TTY, else JSON"
    )


class InstrumentsSettings(Section):
    """The scrip master (instrument list)."""

    url: str | None = Field(None, alias="DHAN_INSTRUMENTS_URL", description="scrip master URL or file path")
    max_mb: int = Field(
        256, ge=1, le=4096, alias="DHAN_INSTRUMENTS_MAX_MB",
        description="a scrip master (download or file) larger than this many MiB is refused",
    )  # fmt: skip
    timeout_s: float = Field(
        60.0, gt=0, alias="DHAN_INSTRUMENTS_TIMEOUT_S",
        description="the scrip master download must end within this many seconds",
    )  # fmt: skip
