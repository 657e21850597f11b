"""Screenshots of the previous sessions on the tick chart and the volume-profile chart (run by hand; here beside
bench/viz_frames.py because it shows the very data that bench measures, seeded by bench.viz_load).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/prior_screenshots.py [--out docs/screenshots]

Seeds a private database and key prefix as bench/viz_frames.py does (bench.viz_load.seed: the NIFTY future's
session today and on three earlier days, written through the writer, so with one-minute candles), opens each
window as ``dhan viz`` does, waits for today's history and the previous sessions, saves the picture, and drops
the database and keys afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pymysql
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PyQt6.QtCore import QSettings

from bench.viz_load import seed
from devkit.waiting import eventually
from shared.settings import Settings, load_settings
from viz.boot import make_app, save_screenshot
from viz.windows.base import VizOptions
from viz.windows.tick_chart import TickChartWindow
from viz.windows.volume_profile_chart import VolumeProfileChartWindow

INSTRUMENT = "NIFTY FUT 0"


async def _shoot(settings: Settings, out: Path) -> None:
    for cls, name in ((TickChartWindow, "tick-chart-days.png"), (VolumeProfileChartWindow, "volume-profile-days.png")):
        w: Any = cls(settings, VizOptions(instrument=INSTRUMENT))
        w.resize(1280, 800)
        w.show()
        await w.start()
        if isinstance(w, TickChartWindow):
            w.n_box.set_value(500)  # 40 bars a session: today's and the previous sessions' in one view
        await eventually(lambda w=w: w.loaded.is_set(), timeout_s=60, message="history")
        done = (lambda w=w: bool(w.days_bars.prior)) if isinstance(w, TickChartWindow) else (
            lambda w=w: w.prior.sessions is not None)
        await eventually(done, timeout_s=60, message="previous sessions")
        assert await save_screenshot(w, out / name)
        print(f"saved {out / name}")
        w.close()
        await w.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--history", type=int, default=20_000)
    args = parser.parse_args()
    db, prefix = f"dhan_prior_shots_{os.getpid()}", f"priorshots{os.getpid()}:"
    m = load_settings().mysql.target
    settings = load_settings(key_prefix=prefix, mysql_url=f"mysql://{m.user}@{m.host}:{m.port}/{db}",
                             client_id=None, access_token=None)
    # two days ago a little above today's range (its POC stays naked until today's trades reach it), yesterday
    # below it (yesterday's value area in the view), three days ago far away
    asyncio.run(seed(settings, args.history, 3, (0, -40, 45, -120)))
    try:
        app = make_app()  # noqa: F841  (kept alive while the windows run)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)  # remembered choices of a scratch directory
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
        with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
            runner.run(_shoot(settings, args.out))
    finally:
        admin = pymysql.connect(host=m.host, port=m.port, user=m.user, password=m.password.get_secret_value())
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        admin.close()
        client = redis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
