"""Record the golden session (tests/data/golden/): a short simulator session journaled by the feed, and the
digest of what a fresh feed publishes when the journal is replayed to it (see tests/reliability/golden.py).

Run from the repository root, then commit both files with a message saying why they changed:
    .venv/bin/python scripts/record_golden_session.py [--trades 600]
A meant change of the normaliser keeps the recording and only digests it again:
    .venv/bin/python scripts/record_golden_session.py --digest-only
Uses the local Redis (a unique key prefix, removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit.golden import GOLDEN_DIR, record_session, replay_digest
from devkit.settings import isolated_settings


async def _main(trades: int, digest_only: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="dhan-golden-"))
    common = {"sim_rate": 300.0, "sim_seed": 42, "journal_block_ms": 50}
    live = isolated_settings(journal_dir=work / "live", **common)
    again = isolated_settings(journal_dir=work / "replay", **common)
    client = aioredis.Redis.from_url(live.redis.url.get_secret_value())
    try:
        if digest_only:
            target = next(GOLDEN_DIR.glob("session-*.djr"))
        else:
            journal = await record_session(live, client, trades)
            GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
            for old in GOLDEN_DIR.glob("*.djr"):
                old.unlink()
            target = GOLDEN_DIR / f"session-{journal.name}"
            shutil.copyfile(journal, target)
        digest = await replay_digest(again, client, target)
        (GOLDEN_DIR / "digest.json").write_bytes(orjson.dumps(digest, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"golden session: {target} ({target.stat().st_size:,} bytes), {digest['frames']} frames, "
              f"{digest['ticks']['events']} trades")
    finally:
        for s in (live, again):
            keys = [k async for k in client.scan_iter(match=f"{s.redis.key_prefix}*")]
            if keys:
                await client.delete(*keys)
        await client.aclose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=600, help="record until this many trades were published")
    ap.add_argument("--digest-only", action="store_true", help="keep the committed recording, digest it again")
    args = ap.parse_args()
    asyncio.run(_main(args.trades, args.digest_only))
