"""The Control Center driven end to end, offscreen, with real services (shared by the test and the
screenshot script ``scripts/control_screenshots.py``).

Start All -> every service running through its heartbeat -> SIGKILL the feed -> "crashed" plus the monitor's
alert -> Restart from its button -> running, alert resolved -> a dropped connection -> both outages in the Gaps
tab -> Stop All -> nothing left running. A PNG of each tab is grabbed on the way. The services are the real
``dhan sim``, ``writer``, ``feed``, ``greeks``, ``monitor`` and ``scheduler`` processes; the visualizer windows
are listed but not opened.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from pydantic import SecretStr
from PyQt6.QtWidgets import QApplication, QPushButton

from control.center.engine import ControlCenter
from control.center.ui.main_window import TAB_NAMES, ControlWindow
from devkit.waiting import eventually
from shared.settings import Settings

SERVICES = ("sim", "writer", "feed", "greeks", "monitor", "scheduler")
_CHILD_FIELDS = (
    "key_prefix", "redis_url", "mysql_url", "sim_port", "sim_rate", "heartbeat_interval_s", "health_port_base",
    "nifty_strikes", "banknifty_strikes", "include_nifty50", "monitor_stale_s", "monitor_market_hours",
    "monitor_interval_s", "shutdown_deadline_s", "spool_dir", "sim_session_clock", "sim_token", "sim_faults",
)


def child_env(s: Settings) -> dict[str, str]:
    """What the launched services need to see the same system as the test's settings."""
    out = {}
    flat = s.flat()
    for name in _CHILD_FIELDS:
        v = flat[name]
        v = v.get_secret_value() if isinstance(v, SecretStr) else v
        out[f"DHAN_{name.upper()}"] = str(v).lower() if isinstance(v, bool) else str(v)
    out["DHAN_LOG_FORMAT"] = "json"
    # keep the feed's journal out of the working tree
    out["DHAN_JOURNAL_DIR"] = str(Path(str(s.publish.spool_dir)).parent / "journal")
    return out


def scenario_settings(db_settings: Settings, tmp: Path) -> Settings:
    return db_settings.replaced(
        sim_rate=200.0, nifty_strikes=2, banknifty_strikes=2, include_nifty50=True,
        heartbeat_interval_s=0.5, monitor_stale_s=3.0, monitor_market_hours="always",
        monitor_interval_s=0.5, shutdown_deadline_s=3.0, spool_dir=tmp / "spool",
        sim_session_clock="open", sim_token=SecretStr("cc-fault-token-" + "5b8e" * 6), sim_faults=True
    )


async def grab(app: QApplication, window: ControlWindow, tab: str, out_dir: Path) -> Path:
    window.tabs.setCurrentWidget(window.tab(tab))  # type: ignore[arg-type]
    window.redraw()
    for _ in range(3):  # the qasync loop runs Qt's layout and paint events meanwhile (no processEvents here:
        await asyncio.sleep(0.05)  # it would step our tasks re-entrantly)
    path = out_dir / f"control-{tab}.png"
    assert window.grab().save(str(path)), f"could not save {path}"
    return path


async def _sim_drop(s: Settings) -> None:
    assert s.sim.token is not None
    async with aiohttp.ClientSession() as http, http.post(
            f"http://{s.sim.host}:{s.sim.port}/fault",
            params={"kind": "drop", "token": s.sim.token.get_secret_value()}) as resp:
        assert resp.status == 200, await resp.text()


def _button(window: ControlWindow, name: str) -> QPushButton:
    b = window.services.findChild(QPushButton, name)
    assert b is not None, name
    return b


async def run_scenario(app: QApplication, s: Settings, tmp: Path, shots: Path) -> dict[str, Any]:
    """Returns figures for the report (seconds to all green, pids seen)."""
    env_path = tmp / ".env"
    env_path.write_text("# desk settings\nDHAN_SIM_RATE=200\nDHAN_REDIS_URL=redis://:desk-s3cret@127.0.0.1:6379/0\n"
                        "DHAN_LOG_LEVEL=info\n")
    center = ControlCenter(s, log_dir=tmp / "log", env_path=env_path, child_env=child_env(s), auto_restart=False)
    window = ControlWindow(center)
    window.show()
    out: dict[str, Any] = {}
    pids: set[int] = set()
    try:
        await center.start()
        await eventually(lambda: bool(center.rows), message="first refresh")
        window.services.refresh()
        for name in SERVICES:
            assert _button(window, f"start:{name}").isEnabled()
        t0 = time.monotonic()
        window.services.start_all.click()
        await eventually(lambda: center.startup.finished is not None, timeout_s=240, interval_s=0.2,
                         message="Start All finished")
        out["all_green_s"] = round(time.monotonic() - t0, 1)
        assert center.startup.summary().startswith("all green"), center.startup.summary()
        for name in SERVICES:
            row = center.row(name)
            assert row is not None and row.state == "running" and row.local, (name, row)
            child = center.child(name)
            assert child is not None and child.pid is not None
            pids.add(child.pid)
        await eventually(lambda: center.watcher is not None and len(center.watcher.seen) > 20, timeout_s=30,
                         message="instruments quoted")
        def plan_shown() -> bool:
            r = center.row("scheduler")
            return r is not None and ("next start" in r.detail or "running until" in r.detail)

        await eventually(plan_shown, timeout_s=20, message="the scheduler's plan")

        def budget_shown() -> bool:  # the feed's Dhan sockets: the live one and the 20-level depth one
            r = center.row("feed")
            return r is not None and "Dhan sockets 2/5 (live 1, depth20 1)" in r.detail

        await eventually(budget_shown, timeout_s=20, message="the feed's connection budget")
        await grab(app, window, "services", shots)
        await grab(app, window, "monitor", shots)
        await grab(app, window, "instruments", shots)

        feed = center.child("feed")
        assert feed is not None and feed.pid is not None
        os.kill(feed.pid, signal.SIGKILL)
        await eventually(lambda: (r := center.row("feed")) is not None and r.state == "crashed", timeout_s=20,
                         message="feed crashed in the table")
        assert any(n == "feed" and st == "crashed" for _, n, st, _ in center.transitions)

        def alert(state: str) -> bool:
            return center.alerts is not None and any(
                r.key == "service_down:feed" and r.state == state for r in center.alerts.alerts.values())

        await eventually(lambda: alert("firing"), timeout_s=30, message="monitor alert for the feed")
        await eventually(lambda: center.verdict[0] == "down" and "feed" in center.verdict[1], timeout_s=10,
                         message="verdict down because of the feed")
        await grab(app, window, "alerts", shots)
        tab = window.alerts
        tab.view.selectRow(next(i for i, aid in enumerate(tab._ids) if aid.startswith("service_down:feed")))
        (alert_id,) = tab.selected_ids()
        tab.ack.click()
        assert center.redis is not None
        await eventually(lambda: center.redis.hexists(center.keys.alerts_ack, alert_id),  # type: ignore[union-attr]
                         message="acknowledgement stored")
        _button(window, "restart:feed").click()
        await eventually(lambda: (r := center.row("feed")) is not None and r.state == "running", timeout_s=60,
                         message="feed running again")
        await eventually(lambda: alert("resolved"), timeout_s=30, message="alert resolved")
        assert center.child("feed") is not None and center.child("feed").pid is not None  # type: ignore[union-attr]
        pids.add(center.child("feed").pid)  # type: ignore[union-attr, arg-type]
        await _sim_drop(s)                               # an abrupt disconnect: the feed reconnects, loudly
        await eventually(lambda: center.logs is not None and any(r.service == "feed" for r in center.logs.records),
                         timeout_s=30, message="the feed's warning in the logs tab")
        await grab(app, window, "logs", shots)

        def feed_gaps_closed() -> int:        # the SIGKILL (seen at the restart's connect) and the drop
            ledger = center.gaps
            return 0 if ledger is None else sum(1 for g in ledger.gaps if g.seg is None and g.end_ts is not None)

        await eventually(lambda: feed_gaps_closed() >= 2, timeout_s=30, message="both outages in the gap ledger")
        await grab(app, window, "gaps", shots)
        assert window.gaps.model.rowCount() >= 2 and window.tabs.tabText(5).startswith("Gaps (")
        cfg = window.config
        assert "desk-s3cret" not in cfg.editor.toPlainText()           # the secret is masked in the editor
        cfg.editor.setPlainText(cfg.editor.toPlainText().replace("DHAN_SIM_RATE=200", "DHAN_SIM_RATE=300"))
        cfg.validate_btn.click()
        assert cfg.result.text().startswith("valid; changes") and "sim_rate" in cfg.result.text()
        await grab(app, window, "configuration", shots)

        window.services.stop_all.click()
        await eventually(lambda: all((r := center.row(n)) is not None and r.state in ("stopped",)
                                     for n in SERVICES), timeout_s=60, message="all stopped")
        await eventually(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                                         for p in pids), timeout_s=20, message="no process left")
        out["pids"] = sorted(pids)
        out["tabs"] = list(TAB_NAMES)
        return out
    finally:
        window.close()
        await center.stop()
