"""The journal's counters, shared by its parts; each field is written by one thread only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JournalCounters"]


@dataclass(slots=True)
class JournalCounters:
    # the event loop: Journal.append, the write-ahead file
    dropped: int = 0  # frames refused by the full queue
    wal_writes: int = 0
    wal_errors: int = 0
    # the writer thread
    written_frames: int = 0
    lost_frames: int = 0  # frames of blocks that could not be written (the file closed after an error)
    blocks: int = 0
    bytes_raw: int = 0  # frames and their columns before compression
    bytes_written: int = 0
    fsyncs: int = 0
    errors: int = 0
    rotations: int = 0
    truncated_tail_bytes: int = 0  # torn tails cut when a file is reopened to append
    thread_cpu_s: float = 0.0  # CPU time of the writer thread (packing, compressing, writing)
    # start (recovery of a write-ahead file) and any damaged file set aside
    recovered_frames: int = 0
    quarantined: int = 0

    def metrics(self, *, queued: int, path: Path | None) -> dict[str, Any]:
        """The heartbeat and ``/metrics`` fields."""
        return {
            "journal_frames": self.written_frames, "journal_queued": queued, "journal_dropped": self.dropped,
            "journal_lost": self.lost_frames, "journal_blocks": self.blocks, "journal_bytes": self.bytes_written,
            "journal_fsyncs": self.fsyncs, "journal_errors": self.errors,
            "journal_cpu_s": round(self.thread_cpu_s, 3), "journal_wal_writes": self.wal_writes,
            "journal_wal_errors": self.wal_errors, "journal_recovered": self.recovered_frames,
            "journal_quarantined": self.quarantined, "journal_file": str(path) if path else "",
        }
