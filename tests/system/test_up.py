"""``dhan up`` (what the README's run command calls): rows arrive in all six tables, then a clean stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import free_port


def test_dhan_up_fills_all_six_tables(db_settings, tmp_path) -> None:
    env = {
        **os.environ,
        "DHAN_KEY_PREFIX": db_settings.redis.key_prefix,
        "DHAN_SIM_PORT": str(free_port()),
        "DHAN_MYSQL_URL": db_settings.mysql.url.get_secret_value(),
        "DHAN_SIM_RATE": "300",
        "DHAN_NIFTY_STRIKES": "3",
        "DHAN_BANKNIFTY_STRIKES": "2",
        "DHAN_SPOOL_DIR": str(tmp_path / "spool"),
        "DHAN_JOURNAL_DIR": str(tmp_path / "journal"),
        "DHAN_LOG_FORMAT": "json",
    }
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "up", "--duration", "30", "--plain", "--log-dir", str(tmp_path / "log")],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    status = [ln for ln in out.stdout.splitlines() if "| rows " in ln]
    assert status, out.stdout[-2000:]
    last = status[-1]
    counts = dict(re.findall(r"(\w+)=(\d+)", last.split("| rows ", 1)[1]))
    for table in ("instruments", "quotes", "ticks", "depth", "options_greeks", "trade_summary"):
        assert int(counts.get(table, 0)) > 0, f"{table} empty: {last}"
    for service in ("sim", "feed", "writer", "greeks"):
        assert f"{service}:running" in last, last
    assert "crashed" not in out.stderr
    import redis

    r = redis.Redis()
    keys = list(r.scan_iter(match=f"{db_settings.redis.key_prefix}*"))
    if keys:
        r.delete(*keys)
