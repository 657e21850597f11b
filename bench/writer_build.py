"""Writer's pure hot path alone: stream entries -> SQL rows (``BatchBuilder.build``), no Redis, no MySQL.

    .venv/bin/python bench/writer_build.py                 # 400,000 entries in batches of 2,000, 7 rounds

The event mix is bench/writer_drain.py's (about 40 % ticks, 60 % quotes over 250 instruments). Prints the
median and best entries per second of CPU time over the rounds (CPU time: steadier than wall time on a shared
machine); bench/writer_drain.py gives the end-to-end figure, where this step is one part of the time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.writer_drain import make_events
from writer.batch import BatchBuilder, Entry


def one_round(builder: BatchBuilder, batches: list[list[Entry]]) -> float:
    """Entries per second of CPU time (this process's): steadier than wall time on a shared machine."""
    started = time.process_time()
    for batch in batches:
        out = builder.build(batch)
        if out.poison:
            raise RuntimeError(f"unexpected poison: {out.poison[0].reason}")
    return sum(len(b) for b in batches) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    entries = [Entry(kind, f"{i}-0".encode(), payload) for i, (kind, payload) in enumerate(make_events(args.entries))]
    batches = [entries[i : i + args.batch] for i in range(0, len(entries), args.batch)]
    builder = BatchBuilder()
    one_round(builder, batches[:10])  # warm the literal caches, as a running writer has them
    rates = [one_round(builder, batches) for _ in range(args.rounds)]
    print(
        f"build: median {statistics.median(rates):,.0f} entries per CPU second, best {max(rates):,.0f} "
        f"({args.rounds} rounds of {len(entries):,} entries, batches of {args.batch:,})"
    )


if __name__ == "__main__":
    main()
