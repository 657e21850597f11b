"""Settings for a test or a tool run: isolated from the developer's .env and environment, unique key prefix."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

from shared.settings import Settings

__all__ = ["TEMP_FOLDER_SETTINGS", "free_port", "isolated_settings"]

TEMP_FOLDER_SETTINGS = ("spool_dir", "journal_dir")  # made up per call unless given: the caller removes them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_settings(**overrides: Any) -> Settings:
    """Settings isolated from the developer's .env and environment, with a unique Redis prefix and temporary
    spool and journal folders (``DHAN_TEST_REDIS_URL``/``DHAN_TEST_MYSQL_URL`` point at other servers)."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    base: dict[str, Any] = {
        "key_prefix": f"t{uuid.uuid4().hex[:10]}:",
        "sim_port": free_port(),
        "redis_url": os.environ.get("DHAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "mysql_url": os.environ.get("DHAN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/dhan_test"),
        "client_id": None,
        "access_token": None,
        "sim_token": None,
        "heartbeat_interval_s": 0.2,
        "health_port_base": 0,  # no /health endpoints unless asked (Service.health_port = 0: a free port)
        "depth20_enabled": False,  # no depth sockets unless asked: tests of the live feed count its connections
        "spool_dir": tmp / f"dhan-spool-{uuid.uuid4().hex[:8]}",
        "journal_dir": tmp / f"dhan-journal-{uuid.uuid4().hex[:8]}",
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]
