"""Journal cost and replay speed: record N minutes of the simulator through a real feed connection into the
journal, then decode the journal (JournalReader -> Decoder -> Normaliser, the feed's path minus Redis).

Prints: frames recorded and their rate; journal bytes per frame (and raw); write cost per frame on the hot path
(``Journal.append``) and on the writer thread (CPU); the decode rate as a factor of real time, with the process
RSS before and at its peak while decoding (constant memory: one block at a time); and bytes/frame and cost of
other codecs and levels (zlib, zstd) on the same frames.

Run: .venv/bin/python bench/journal_replay.py [--minutes 2] [--rate 2000] [--keep DIR]
(no Redis or MySQL needed; the simulator runs in-process on a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import zstandard

from shared.logs import configure_logging

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feed.connection import DhanConnection
from feed.instruments.parse import fetch_scrip_master, parse_scrip_master
from feed.journal import KIND_FRAMES, Journal, JournalReader, pack_frames
from feed.normalise import Normaliser
from feed.protocol.decode import Decoder
from feed.sim import SimServer
from feed.subscriptions import ShardPlan
from feed.universe import UniverseSelector
from shared.clock import ist_trading_day
from shared.settings import Settings

TRADING_DAY_S = 6.25 * 3600


def rss_mb() -> float:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def record(settings: Settings, seconds: float) -> tuple[Journal, int, float]:
    """Simulator -> DhanConnection -> Journal.append for ``seconds``; returns the journal, instruments, span."""
    async with SimServer(settings) as sim:
        text = await fetch_scrip_master(f"{sim.http_url}/api-scrip-master.csv")
        instruments = parse_scrip_master(text)
        selector = UniverseSelector(instruments, settings, ist_trading_day(time.time()))
        universe = selector.initial({"NIFTY": settings.sim.start_price_nifty,
                                     "BANKNIFTY": settings.sim.start_price_banknifty})
        plan = ShardPlan()
        plan.add({k: m.mode for k, m in universe.members.items()})
        journal = Journal(settings, instance="bench")
        await journal.start()
        stopping = asyncio.Event()
        conns = [DhanConnection(i, settings, plan, journal.append) for i in range(plan.connections)]
        tasks = [asyncio.create_task(c.run(stopping)) for c in conns]
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        span = time.monotonic() - t0
        await journal.stop()
    return journal, len(universe.members), span


def decode(path: Path) -> tuple[int, float, float, float, int]:
    """(frames, seconds, RSS before, RSS peak, trades) decoding the journal the way the feed decodes."""
    before = peak = rss_mb()
    dec, norm = Decoder(), Normaliser()
    q: list[bytes] = []
    t: list[bytes] = []
    d: list[bytes] = []
    frames = trades = 0
    t0 = time.perf_counter()
    for block in JournalReader(path).blocks():
        if block.kind != KIND_FRAMES:
            continue
        feed = norm.feed_frame
        for ts, frame in block.records:
            feed(dec, frame, ts, q, t, d)
            if t:
                trades += len(t)
                t.clear()
            q.clear()
            d.clear()
        frames += len(block.records)
        if block.offset % 16 == 0:
            peak = max(peak, rss_mb())
    elapsed = time.perf_counter() - t0
    return frames, elapsed, before, max(peak, rss_mb()), trades


def append_cost_us(journal_settings: Settings, frames: list[tuple[float, bytes]]) -> float:
    """Hot-path cost of ``Journal.append`` alone (queue only; the writer thread is not running)."""
    j = Journal(journal_settings.replaced(journal_queue_max=len(frames) + 1))
    t0 = time.perf_counter()
    for ts, f in frames:
        j.append(f, ts)
    return (time.perf_counter() - t0) / len(frames) * 1e6


async def write_ahead_cost_us(journal_settings: Settings, frames: list[tuple[float, bytes]], batch: int = 50) -> float:
    """Hot-path cost of ``append`` plus ``write_ahead`` every ``batch`` frames (as the publisher calls it),
    the write-ahead file really written; the writer thread runs meanwhile, as in the feed."""
    with tempfile.TemporaryDirectory() as tmp:
        j = Journal(journal_settings.replaced(journal_dir=Path(tmp), journal_write_ahead=True,
                                                  journal_queue_max=len(frames) + 1))
        await j.start()
        t0 = time.perf_counter()
        for i, (ts, f) in enumerate(frames):
            j.append(f, ts)
            if i % batch == batch - 1:
                j.write_ahead()
        j.write_ahead()
        elapsed = time.perf_counter() - t0
        await j.stop()
    return elapsed / len(frames) * 1e6


def codecs(frames: list[tuple[float, bytes]], block_kb: int) -> list[tuple[str, float, float, float]]:
    """Per codec and level: bytes/frame, compress us/frame, decompress us/frame (blocks of ``block_kb``)."""
    blocks: list[bytes] = []
    tss: list[float] = []
    chunk: list[bytes] = []
    size = 0
    for ts, f in frames:
        tss.append(ts)
        chunk.append(f)
        size += 12 + len(f)
        if size >= block_kb * 1024:
            blocks.append(pack_frames(tss, chunk))
            tss, chunk, size = [], [], 0
    if tss:
        blocks.append(pack_frames(tss, chunk))
    out = []
    n = len(frames)
    cases: list[tuple[str, Any, Any]] = [("stored", lambda b: b, lambda b: b)]
    for level in (1, 3, 6):
        cases.append((f"zlib {level}", lambda b, lv=level: zlib.compress(b, lv), zlib.decompress))
    for level in (1, 3, 9):
        cases.append((f"zstd {level}", zstandard.ZstdCompressor(level=level).compress,
                      zstandard.ZstdDecompressor().decompress))
    for name, comp, dec in cases:
        t0 = time.perf_counter()
        packed = [comp(b) for b in blocks]
        t1 = time.perf_counter()
        for c in packed:
            dec(c)
        t2 = time.perf_counter()
        out.append((name, sum(map(len, packed)) / n + 40 * len(packed) / n, (t1 - t0) / n * 1e6,
                    (t2 - t1) / n * 1e6))
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="how long to record (default 2)")
    ap.add_argument("--rate", type=float, default=2000.0, help="simulator updates/s (default 2000)")
    ap.add_argument("--level", type=int, default=None, help="compression level (default the setting's)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the journal in this directory")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dhan-journal-bench-"))
    port = free_port()
    overrides: dict[str, Any] = {
        "sim_port": port, "sim_rate": args.rate, "sim_burst_factor": 0.0, "journal_dir": workdir,
        "instruments_url": f"http://127.0.0.1:{port}/api-scrip-master.csv", "log_level": "warning",
        "client_id": None, "access_token": None, "sim_token": None,
    }
    if args.level is not None:
        overrides["journal_compress_level"] = args.level
    settings = Settings.model_validate(overrides)

    configure_logging("bench", level="warning", fmt="console", secrets=[])
    journal, instruments, span = await record(settings, args.minutes * 60)
    assert journal.path is not None
    counters = journal.counters
    n = counters.written_frames
    size = journal.path.stat().st_size
    print(f"recorded   {span:.1f} s of the simulator at --rate {args.rate:g}: {n:,} frames ({n / span:,.0f}/s) "
          f"for {instruments} instruments, dropped {counters.dropped}")
    print(f"journal    {size / 2**20:.2f} MiB = {size / n:.1f} B/frame on disk (raw {counters.bytes_raw / n:.1f} "
          f"B/frame, {settings.journal.codec} level {settings.journal.compress_level}: "
          f"{counters.bytes_raw / size:.2f}x), "
          f"{counters.blocks} blocks, {counters.fsyncs} fsyncs ({settings.journal.fsync})")
    print(f"           a {TRADING_DAY_S / 3600:g} h day at this rate: {size / span * TRADING_DAY_S / 2**30:.2f} GiB")
    frames = list(JournalReader(journal.path).frames())
    print(f"write cost append() {append_cost_us(settings, frames):.3f} us/frame on the hot path; writer thread "
          f"{counters.thread_cpu_s / n * 1e6:.2f} us/frame CPU ({counters.thread_cpu_s:.2f} s in all)")
    print(f"           append() + write_ahead() every 50 frames: {await write_ahead_cost_us(settings, frames):.3f} "
          "us/frame on the hot path (the write-ahead file written)")
    del frames
    for _ in range(2):  # the second run is the one reported (warm caches)
        count, elapsed, before, peak, trades = decode(journal.path)
    first_ts, last_ts = _span(journal.path)
    recorded_s = last_ts - first_ts
    print(f"decode     {count:,} frames ({trades:,} trades) in {elapsed:.2f} s = {count / elapsed:,.0f} frames/s = "
          f"{recorded_s / elapsed:.0f}x real time; RSS {before:.0f} MiB before, {peak:.0f} MiB peak")
    sample = list(JournalReader(journal.path).frames())
    for name, per_frame, comp_us, decomp_us in codecs(sample, settings.journal.block_kb):
        print(f"  {name:7s} {per_frame:6.1f} B/frame, compress {comp_us:5.2f} us/frame, "
              f"decompress {decomp_us:5.2f} us/frame")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        shutil.copy2(journal.path, args.keep / journal.path.name)
        print(f"kept       {args.keep / journal.path.name}")
    shutil.rmtree(workdir, ignore_errors=True)


def _span(path: Path) -> tuple[float, float]:
    first = last = 0.0
    for block in JournalReader(path).blocks(decode=False):
        if block.kind == KIND_FRAMES:
            first = first or block.first_ts
            last = block.last_ts
    return first, last


if __name__ == "__main__":
    asyncio.run(main())
