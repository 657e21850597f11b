"""Grab docs/screenshots/control-<tab>.png: the Control Center offscreen over real services (run by hand).

Runs the end-to-end scenario of tests/control/cc_scenario.py (Start All, SIGKILL the feed, its alert,
Restart, Stop All) on a private MariaDB database and a unique Redis prefix, both removed afterwards.
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/control_screenshots.py [out_dir]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pymysql
import qasync
import redis
from PyQt6.QtWidgets import QApplication

from devkit.cc_scenario import run_scenario, scenario_settings
from devkit.settings import isolated_settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:


    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    base = os.environ.get("DHAN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/x").rsplit("/", 1)[0]
    db = isolated_settings(mysql_url=f"{base}/dhan_shots_{uuid.uuid4().hex[:8]}")
    app = QApplication.instance() or QApplication(["control-screenshots"])
    app.setQuitOnLastWindowClosed(False)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        s = scenario_settings(db, Path(tmp))
        try:
            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                result = runner.run(run_scenario(app, s, Path(tmp), out))  # type: ignore[arg-type]
        finally:
            r = redis.Redis.from_url(s.redis.url.get_secret_value())
            keys = list(r.scan_iter(match=f"{s.redis.key_prefix}*", count=1000))
            if keys:
                r.delete(*keys)
            kw = {k: v for k, v in s.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
            conn = pymysql.connect(**kw)
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{s.mysql.target.database}`")
            conn.close()
    print(f"all green in {result['all_green_s']}s; screenshots in {out}/control-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
