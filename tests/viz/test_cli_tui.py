"""``dhan viz``: arguments, one-line errors, the screenshot path end to end, and the terminal quote board."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from rich.console import Console

from shared.cli import main
from shared.errors import ConfigError
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.viz.helpers import OPEN, quote, record, store, ticks_run, write_universe, xadd
from viz.tui import QuoteTui, visible_columns


def test_help_lists_every_window(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["viz", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in (
        "volume-profile",
        "market-breadth",
        "tick-chart",
        "volume-profile-chart",
        "quote-board",
        "option-chain",
        "depth",
        "depth-ladder",
        "oi",
        "straddle",
        "footprint",
        "quotes",
        "--tui",
        "--screenshot",
        "--duration",
        "--instrument",
        "--theme",
    ):
        assert name in out


def test_bad_arguments_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["viz", "tick-chart", "--tui"]) == ConfigError.exit_code
    err = capsys.readouterr().err.strip()
    assert err == "dhan viz: error: --tui is available for the quote board only (dhan viz quotes --tui), not tick-chart"
    assert main(["viz", "quotes", "--duration", "-1"]) == ConfigError.exit_code
    assert "positive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["viz", "no-such-window"])
    assert exc.value.code == 2


def test_no_display_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from viz.boot import check_display

    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match=r"no display.*--tui.*QT_QPA_PLATFORM=offscreen"):
        check_display()


def test_screenshot_end_to_end(sync_db: Settings, tmp_path: Path) -> None:
    """The real command in its own process: loads history, saves the PNG, exits 0."""
    settings = sync_db

    async def seed() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await write_universe(redis, Keys(settings.redis.key_prefix),
                             [record("NSE_FNO", 7, "NIFTY-FUT", custom="NIFTY FUT")])
        await store(settings, redis, "ticks", ticks_run("NSE_FNO", 7, [26000.0 + (i % 9) * 0.05 for i in range(50)]))
        await redis.aclose()

    asyncio.run(seed())
    out = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "DHAN_KEY_PREFIX": settings.redis.key_prefix,
        "DHAN_MYSQL_URL": settings.mysql.url.get_secret_value(),
        "DHAN_REDIS_URL": settings.redis.url.get_secret_value(),
        "DHAN_LOG_LEVEL": "warning",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "shared.cli", "viz", "volume-profile", "--screenshot", str(out), "--duration", "60"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "viz_screenshot_before_load" not in proc.stdout  # it waited for the history, not the timeout


def _start_window(env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with open(out, "wb") as fh:
        return subprocess.Popen([sys.executable, "-m", "shared.cli", "viz", "volume-profile", "--duration", "90"],
                                env=env, cwd=out.parent, stdout=fh, stderr=subprocess.STDOUT)


@pytest.mark.timeout(120)
async def test_a_closed_terminal_closes_the_window_cleanly(viz_db: tuple[Settings, aioredis.Redis],
                                                          tmp_path: Path) -> None:
    """SIGHUP (its terminal closed) shuts a window down as closing it does (exit 0), as it does the Control
    Center: both boot through viz.boot.run_qt."""
    settings, redis = viz_db
    await write_universe(redis, Keys(settings.redis.key_prefix),
                         [record("NSE_FNO", 7, "NIFTY-FUT", custom="NIFTY FUT")])
    await store(settings, redis, "ticks", ticks_run("NSE_FNO", 7, [26000.0 + (i % 9) * 0.05 for i in range(50)]))
    env = {
        **os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
        "DHAN_KEY_PREFIX": settings.redis.key_prefix, "DHAN_MYSQL_URL": settings.mysql.url.get_secret_value(),
        "DHAN_REDIS_URL": settings.redis.url.get_secret_value(), "DHAN_LOG_LEVEL": "info",
    }  # fmt: skip
    out = tmp_path / "viz.out"
    proc = _start_window(env, out)
    try:
        await eventually(lambda: "viz_loaded" in out.read_text() or proc.poll() is not None, timeout_s=60,
                         message="window loaded")
        assert proc.poll() is None, out.read_text()[-2000:]
        proc.send_signal(signal.SIGHUP)
        assert await asyncio.to_thread(proc.wait, 30) == 0, out.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_visible_columns_drop_least_important_first() -> None:
    assert [c for c, _ in visible_columns(200)][-1] == "updated"
    narrow = [c for c, _ in visible_columns(80)]
    assert narrow[:3] == ["symbol", "ltp", "change"] and "updated" not in narrow and "bid" not in narrow


async def test_tui_board_follows_quotes(viz_db: tuple[Settings, aioredis.Redis]) -> None:
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    await write_universe(
        redis,
        keys,
        [
            record("NSE_FNO", 7, "NIFTY-FUT", custom="NIFTY JUN FUT"),
            record("NSE_EQ", 11, "AAA", role="equity", instrument="EQUITY", expiry=None, underlying="AAA"),
        ],
    )
    await store(settings, redis, "quotes", [quote("NSE_FNO", 7, 26000.0, close=25900.0, oi=10, prev_oi=5)])
    tui = QuoteTui(settings)
    task = asyncio.create_task(tui.link.run_forever(tui.data_routine, "quotes"))
    try:
        await eventually(lambda: tui.status.phase == "live", timeout_s=15)
        assert tui.board.rows["NSE_FNO:7"].ltp == 26000.0
        await xadd(redis, keys.quotes, [quote("NSE_EQ", 11, 101.5, close=100.0, ets=OPEN + 3)])
        await eventually(lambda: tui.board.rows["NSE_EQ:11"].ltp == 101.5)
        console = Console(record=True, width=160, color_system=None)
        console.print(tui.render(20, 160))
        text = console.export_text()
        assert "NIFTY JUN FUT" in text and "26,000.00" in text and "+100.00" in text and "+0.39%" in text
        assert "AAA" in text and "101.50" in text and "+1.50%" in text
        assert "Redis: connected" in text
    finally:
        assert not await tui.link.cancel_and_close([task])  # stops promptly, no retry after the cancel
