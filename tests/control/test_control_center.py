"""The Control Center offscreen against real services (sim, writer, feed, greeks, monitor, scheduler)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from devkit.cc_scenario import run_scenario, scenario_settings
from shared.settings import Settings


@pytest.mark.timeout(420)
def test_start_all_kill_restart_stop_all(db_settings: Settings, tmp_path: Path) -> None:
    import qasync
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["test"])
    app.setQuitOnLastWindowClosed(False)  # type: ignore[union-attr]
    s = scenario_settings(db_settings, tmp_path)
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            result = runner.run(run_scenario(app, s, tmp_path, shots))  # type: ignore[arg-type]
    finally:
        r = redis.Redis.from_url(s.redis.url.get_secret_value())
        keys = list(r.scan_iter(match=f"{s.redis.key_prefix}*", count=1000))
        if keys:
            r.delete(*keys)
        r.close()
    assert result["all_green_s"] > 0
    for tab in result["tabs"]:
        png = shots / f"control-{tab}.png"
        assert png.stat().st_size > 10_000, tab
