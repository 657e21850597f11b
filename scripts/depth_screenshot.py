"""docs/screenshots/depth-ladder.png: the depth window on ten minutes of a simulated NIFTY future.

    .venv/bin/python scripts/depth_screenshot.py [--out docs/screenshots/depth-ladder.png] [--theme dark]

Books and trades come from the simulator's book model (devkit/depth_books.py) at 20 books a second, ending
now; all but the last 20 seconds are written to MySQL by the writer (drain mode), the rest stay in the
streams for the seam's catch-up. A private key prefix and database are used and removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

from shared.logs import configure_logging

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.depth_books import seed, session
from shared.db import connect, init_schema
from shared.settings import Settings, load_settings


async def shoot(settings: Settings, out: Path, theme: str) -> None:
    # Qt (viz.windows) once main has made the QApplication, with QT_QPA_PLATFORM set above
    from viz.windows.base import VizOptions
    from viz.windows.depth_ladder import DepthLadderWindow

    now = time.time()
    demo = session(start=now - 600, seconds=600, rate=20.0)
    await init_schema(settings)
    await seed(settings, demo, stored=len(demo.books) - 400)
    window = DepthLadderWindow(settings, VizOptions(instrument="NSE_FNO:35001", theme=theme))
    window.show()
    await window.start()
    window.resize(1400, 860)
    try:
        await asyncio.wait_for(window.loaded.wait(), 60)
        for _ in range(10):
            window.frame()
            await asyncio.sleep(0.05)
        window.refresh_status()
        out.parent.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(out)), f"could not write {out}"
        print(f"{out}: {window.view.books_seen if window.view else 0} books, {len(window.ticks)} trades")
    finally:
        window.close()
        await window.stop()


async def cleanup(settings: Settings) -> None:
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    conn = await connect(settings, with_db=False)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{settings.mysql.target.database}`")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots/depth-ladder.png"))
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    args = parser.parse_args()

    # Qt once QT_QPA_PLATFORM is set (above), and only to run: --help does not load it
    import qasync
    from PyQt6.QtCore import QSettings

    from viz.boot import make_app

    configure_logging("depth-screenshot", level="warning", fmt="console")
    app = make_app()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="depth-shot-"))
    m = load_settings().mysql.target
    tag = uuid.uuid4().hex[:8]
    settings = load_settings(key_prefix=f"depthshot{tag}:", mysql_url=f"mysql://{m.user}@{m.host}:{m.port}/dhan_shot_{tag}",
                             client_id=None, access_token=None)  # fmt: skip
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        try:
            runner.run(shoot(settings, args.out, args.theme))
        finally:
            runner.run(cleanup(settings))


if __name__ == "__main__":
    main()
