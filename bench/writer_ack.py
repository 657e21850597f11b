"""The writer's XACK after a commit: hiredis-packed commands (writer.reader) against a redis-py pipeline.

    .venv/bin/python bench/writer_ack.py [--entries 2000] [--runs 15] [--redis-url redis://127.0.0.1:6379/0]

Each run XADDs ``--entries`` one-field entries to a tick and a quote stream (3:1), reads them through the
writer's consumer group and acks them, alternately the writer's way (:meth:`writer.reader.StreamReader.ack`)
and with a redis-py pipeline of one XACK per stream (the writer's way before). Prints the process CPU time per
acked entry, median and minimum of the runs, and the ratio of the medians. Keys live under a private prefix and
are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from shared.keys import Keys
from writer.batch import Entry
from writer.reader import StreamReader


async def _pipeline_ack(reader: StreamReader, entries: list[Entry]) -> None:
    by_kind: dict[str, list[bytes]] = {}
    for e in entries:
        by_kind.setdefault(e.kind, []).append(e.entry_id)
    pipe = reader.client.pipeline(transaction=False)
    for kind, ids in by_kind.items():
        pipe.xack(reader.streams[kind], reader.group, *ids)
    await pipe.execute()


async def main(args: argparse.Namespace) -> None:
    client = aioredis.Redis.from_url(args.redis_url)
    keys = Keys(f"bench-ack-{uuid.uuid4().hex[:8]}:")
    reader = StreamReader(client, keys, "bench")
    await reader.ensure_groups()
    ways = {"hiredis-packed (now)": reader.ack, "redis-py pipeline (before)": None}
    times: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for _ in range(args.runs):
            for name, ack in ways.items():
                pipe = client.pipeline(transaction=False)
                for i in range(args.entries):
                    pipe.xadd(keys.ticks if i % 4 else keys.quotes, {"d": b"{}"})
                await pipe.execute()
                entries = await reader.read(args.entries, None)
                t0 = time.process_time()
                await (ack(entries) if ack is not None else _pipeline_ack(reader, entries))
                times[name].append((time.process_time() - t0) / len(entries) * 1e6)
    finally:
        await client.delete(*[keys.stream(kind) for kind in ("quotes", "ticks", "depth", "greeks", "depth20")])
        await client.aclose()
    medians = {name: statistics.median(v) for name, v in times.items()}
    for name, v in times.items():
        print(f"{name:28} {medians[name]:.3f} us CPU per acked entry (min {min(v):.3f}, {len(v)} runs)")
    now, before = medians.values()
    print(f"ratio now / before: {now / before:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    asyncio.run(main(parser.parse_args()))
