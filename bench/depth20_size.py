"""Bytes on disk per instrument-day of ``dhan_depth20_history`` (MariaDB/MySQL, InnoDB).

    .venv/bin/python bench/depth20_size.py [--seconds 22500] [--rate 2] [--sample-s 1.0] [--levels 20]

Generates one NSE session of a NIFTY future's books from the simulator's book model (devkit/depth_books.py:
20 levels a side, 0.10 tick, lot 75; 09:15-15:30 IST is 22,500 s), writes them through the writer's own rows
(writer.batch.BatchBuilder, sampled at ``--sample-s``) into a fresh database, runs ``ANALYZE TABLE`` and
reads ``DATA_LENGTH + INDEX_LENGTH`` of the partition from information_schema. Also prints the packed book
size, to compare with what the rows cost. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.depth_books import session
from shared.clock import IST_OFFSET_S
from shared.db import connect, init_schema
from shared.depth_pack import pack
from shared.settings import Settings
from writer import sql
from writer.batch import BatchBuilder, Entry

OPEN = 1_795_600_800 - 1_795_600_800 % 86_400 + 9 * 3600 + 15 * 60 - IST_OFFSET_S  # 2026-11-25 09:15 IST
CHUNK = 2000
SESSION_S = 22_500  # 09:15-15:30


async def main(args: argparse.Namespace) -> None:
    base = os.environ.get("DHAN_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/x").rsplit("/", 1)[0]
    settings = Settings(_env_file=None, mysql_url=f"{base}/dhan_bench_{uuid.uuid4().hex[:8]}")  # type: ignore[call-arg]
    await init_schema(settings)
    books = session(start=OPEN, seconds=args.seconds, rate=args.rate, levels=args.levels).books
    builder = BatchBuilder(depth20_sample_s=args.sample_s)
    conn = await connect(settings)
    rows = 0
    try:
        for start in range(0, len(books), CHUNK):
            entries = [Entry("depth20", b"0-0", orjson.dumps(ev)) for ev in books[start : start + CHUNK]]
            batch = builder.build(entries)
            assert not batch.poison, batch.poison[0].reason
            async with conn.cursor() as cur:
                for text in sql.render_statements(sql.depth20_history_insert, batch.depth20_history):
                    rows += await cur.execute(text)
            await conn.commit()
        async with conn.cursor() as cur:
            await cur.execute("ANALYZE TABLE dhan_depth20_history")
            await cur.fetchall()
            await cur.execute(
                "SELECT PARTITION_NAME, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.PARTITIONS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dhan_depth20_history' AND DATA_LENGTH > 16384"
            )
            parts = await cur.fetchall()
            await cur.execute("SELECT COUNT(*), AVG(LENGTH(book)), SUM(LENGTH(book)) FROM dhan_depth20_history")
            (count, avg_blob, sum_blob) = await cur.fetchone()
            await cur.execute("SELECT @@version")
            (version,) = await cur.fetchone()
        blobs = [len(b) for b in _packed(books[:: max(1, len(books) // 2000)])]
        data = sum(int(p[2]) for p in parts)
        index = sum(int(p[3]) for p in parts)
        print(f"server {version}; {len(books):,} books at {args.rate}/s for {args.seconds:,} s, "
              f"{args.levels} levels, sampled every {args.sample_s} s")  # fmt: skip
        print(f"rows stored {count:,} (partitions {', '.join(p[0] for p in parts)})")
        print(f"packed book: mean {float(avg_blob):.1f} B (median of a sample {statistics.median(blobs):.0f} B), "
              f"{int(sum_blob) / 1e6:.2f} MB of books")  # fmt: skip
        per_row = (data + index) / count
        day = per_row * SESSION_S / args.sample_s
        print(f"on disk: data {data / 1e6:.2f} MB + index {index / 1e6:.2f} MB, {per_row:.0f} B per row: "
              f"{day / 1e6:.2f} MB per instrument-day ({SESSION_S:,} s NSE session)")  # fmt: skip
    finally:
        conn.close()
        conn = await connect(settings, with_db=False)
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE `{settings.mysql.target.database}`")
        conn.close()


def _packed(books: list[dict]) -> list[bytes]:
    return [pack(b["bids"], b["asks"]) for b in books]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=22_500)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--sample-s", type=float, default=1.0)
    parser.add_argument("--levels", type=int, default=20, choices=(20, 200))
    asyncio.run(main(parser.parse_args()))
