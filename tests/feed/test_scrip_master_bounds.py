"""Hostile scrip masters: a bad row is skipped and counted, never the end of the parse; the download and the
file read have a size cap, the download a timeout.

Rows: a field past the csv module's 128 KiB limit, an ``inf`` lot size, a ``1.0e400`` security id and numbers
no feed packet or ``dhan_instruments`` column can hold. Downloads: a real local aiohttp server with a body
that never ends, one that declares 10 GiB, and one that stalls; ``dhan instruments`` and ``dhan feed`` are run
as the real commands against it: one line on stderr, no traceback, memory bounded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from feed.instruments.parse import fetch_scrip_master, parse_scrip_master_report
from shared.errors import ConfigError, DhanError
from tests.child import PEAK_RSS_BOUND_BYTES, clean_env, run_dhan
from tests.conftest import free_port, make_settings, track_prefix
from tests.feed.test_instruments import COMPACT_HEADER, HDFCBANK, NIFTY_CE, NIFTY_IDX, RELIANCE

BAD_ROWS = {
    "200 KB field": "NSE,E,2886,EQUITY,0,REL2,1," + "x" * 200_000 + ",,,,10,NA,ES,EQ,LONG NAME",
    "inf lot size": "NSE,E,2887,EQUITY,0,REL3,inf,Reliance,,,,10,NA,ES,EQ,RELIANCE",
    "1.0e400 security id": "NSE,E,1.0e400,EQUITY,0,REL4,1,Reliance,,,,10,NA,ES,EQ,RELIANCE",
    "security id past u32": "NSE,E,4294967296,EQUITY,0,REL5,1,Reliance,,,,10,NA,ES,EQ,RELIANCE",
    "nan lot size": "NSE,E,2888,EQUITY,0,REL6,nan,Reliance,,,,10,NA,ES,EQ,RELIANCE",
    "lot size past INT UNSIGNED": "NSE,E,2889,EQUITY,0,REL7,1e20,Reliance,,,,10,NA,ES,EQ,RELIANCE",
    "infinite strike": NIFTY_CE.replace("35001", "35009").replace("25000.00000", "inf"),
    "tick size past DECIMAL(12,6)": "NSE,E,2890,EQUITY,0,REL8,1,Reliance,,,,1e12,NA,ES,EQ,RELIANCE",
}


def hostile_master() -> str:
    rows = [RELIANCE, *BAD_ROWS.values(), HDFCBANK, NIFTY_IDX]
    return "\n".join((COMPACT_HEADER, *rows)) + "\n"


def test_each_bad_row_is_skipped_and_counted_and_the_rest_parsed() -> None:
    report = parse_scrip_master_report(hostile_master())
    assert sorted(i.trading_symbol for i in report.instruments) == ["HDFCBANK", "NIFTY", "RELIANCE"]
    assert report.bad_rows == len(BAD_ROWS) and report.rows == len(BAD_ROWS) + 3
    lines = [int(e.split(":")[0].removeprefix("line ")) for e in report.bad_examples]
    assert lines == [3, 4, 5, 6, 7]  # record numbers, the header being 1 (the first five are kept)
    assert "field larger than field limit" in report.bad_examples[0]
    assert all(len(e) < 300 for e in report.bad_examples)  # a 200 KB value is not echoed back


def test_dhan_instruments_reports_the_bad_rows_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "master.csv"
    path.write_text(hostile_master(), encoding="utf-8")
    done = run_dhan(["instruments", "--url", str(path)], cwd=tmp_path, env=clean_env())
    assert done.code == 0 and done.err == "" and "Traceback" not in done.out, done
    assert f"3 instruments, {len(BAD_ROWS)} bad rows" in done.out, done.out


def test_a_scrip_master_file_past_the_cap_or_not_a_file_is_one_line(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * ((1 << 20) + 1))
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        asyncio.run(fetch_scrip_master(str(big), max_bytes=1 << 20))
    os.mkfifo(tmp_path / "fifo.csv")  # read_bytes would wait for a writer forever
    for name in ("fifo.csv", "."):
        with pytest.raises(ConfigError, match="cannot read scrip master file") as err:
            asyncio.run(fetch_scrip_master(str(tmp_path / name)))
        assert "\n" not in str(err.value)


# --- downloads from a real local server ---
class Hostile:
    """A local HTTP server: /endless streams CSV forever, /declared announces 10 GiB, /stall sends the headers
    and one line, then nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.release = asyncio.Event()  # set at teardown: the stalled handler returns
        self.bytes_sent = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def endless(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/csv"})
        await resp.prepare(request)
        chunk = ((RELIANCE + "\n") * 1000).encode()
        await resp.write((COMPACT_HEADER + "\n").encode())
        try:
            while not self.release.is_set():
                await resp.write(chunk)
                self.bytes_sent += len(chunk)
        except (ConnectionError, RuntimeError):  # the client hung up
            pass
        return resp

    async def declared(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/csv", "Content-Length": str(10 << 30)})
        await resp.prepare(request)
        await resp.write((COMPACT_HEADER + "\n").encode())
        await self.release.wait()
        return resp

    async def stall(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/csv"})
        await resp.prepare(request)
        await resp.write((COMPACT_HEADER + "\n").encode())
        await self.release.wait()
        return resp


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    app = web.Application()
    app.router.add_get("/endless", server.endless)
    app.router.add_get("/declared", server.declared)
    app.router.add_get("/stall", server.stall)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


async def test_download_past_the_cap_is_refused(hostile: Hostile) -> None:
    for path in ("endless", "declared"):
        with pytest.raises(ConfigError, match="larger than 1 MiB") as err:
            await fetch_scrip_master(hostile.url(path), timeout_s=30, max_bytes=1 << 20)
        assert "\n" not in str(err.value) and "DHAN_INSTRUMENTS_MAX_MB" in str(err.value)
    assert hostile.bytes_sent < 16 << 20  # the client stopped reading near the cap


async def test_stalled_download_times_out(hostile: Hostile) -> None:
    with pytest.raises(DhanError, match=r"timed out after 0\.5s") as err:
        await fetch_scrip_master(hostile.url("stall"), timeout_s=0.5)
    assert "\n" not in str(err.value)


async def test_dhan_instruments_download_cap_and_timeout_come_from_the_settings(
    hostile: Hostile, tmp_path: Path
) -> None:
    env = clean_env(DHAN_INSTRUMENTS_MAX_MB="1", DHAN_INSTRUMENTS_TIMEOUT_S="1")
    for path, code, says in (("endless", 2, "larger than 1 MiB"), ("stall", 1, "timed out after 1s")):
        done = await asyncio.to_thread(run_dhan, ["instruments", "--url", hostile.url(path)], cwd=tmp_path,
                                       env=env)
        assert done.one_line_error() and done.code == code and says in done.err, done
        assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"{path}: peak RSS {done.peak_rss_bytes >> 20} MiB"


async def test_dhan_feed_stops_at_once_on_a_scrip_master_past_the_cap(hostile: Hostile, tmp_path: Path) -> None:
    """The same on every attempt: no retry loop, one line, bounded memory."""
    settings = make_settings()
    env = clean_env(
        DHAN_REDIS_URL=settings.redis.url.get_secret_value(), DHAN_KEY_PREFIX=track_prefix(settings.redis.key_prefix),
        DHAN_JOURNAL_DIR=str(tmp_path / "journal"), DHAN_SPOOL_DIR=str(tmp_path / "spool"),
        DHAN_INSTRUMENTS_URL=hostile.url("endless"), DHAN_INSTRUMENTS_MAX_MB="1",
    )
    done = await asyncio.to_thread(run_dhan, ["feed"], cwd=tmp_path, env=env, deadline_s=60)
    assert done.one_line_error() and done.code == 2 and "larger than 1 MiB" in done.err, done
    assert "instruments_fetch_retry" not in done.out
    assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"peak RSS {done.peak_rss_bytes >> 20} MiB"
