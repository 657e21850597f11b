"""The publisher's spool: events not yet in Redis, in ordered files on disk, sent oldest first.

File ``<spool_dir>/spool-<time_ns>-<seq>.bin``: records ``kind u8, length u32 (little endian), payload`` (an
orjson event). A file is written to ``.tmp``, fsynced and renamed into place, so it is whole or absent; a
write that fails (disk full, I/O error) raises ``OSError`` and leaves nothing behind: the caller still holds
the events.

A damaged file never blocks the spool. Reading validates every record (a known kind, a payload that is a
JSON object, a length inside the file): a record with an unknown kind but intact framing is skipped alone;
anything that breaks the framing ends the file there. The records that read well are sent, and once they
are in Redis the file is moved to ``<spool_dir>/quarantine/`` instead of being deleted, so its bytes stay
for inspection. A file that cannot be read at all is moved there at once. Each case is logged
(``spool_quarantined``: file, offset, why) and counted; files in ``quarantine/`` are never read again.
"""

from __future__ import annotations

import collections
import contextlib
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["QUARANTINE_DIR", "REC", "Spool", "parse_spool"]

REC = struct.Struct("<BI")
QUARANTINE_DIR = "quarantine"

Item = tuple[int, bytes]


def parse_spool(data: bytes, kinds: int) -> tuple[list[Item], list[tuple[int, str]]]:
    """The good records of a spool file's bytes, and its problems as ``(offset, why)`` (pure)."""
    out: list[Item] = []
    problems: list[tuple[int, str]] = []
    off, n = 0, len(data)
    while off < n:
        if off + REC.size > n:
            problems.append((off, f"cut record header ({n - off} bytes at the end)"))
            break
        kind, size = REC.unpack_from(data, off)
        end = off + REC.size + size
        if end > n:
            problems.append((off, f"record of {size} bytes runs past the end of the file"))
            break
        payload = data[off + REC.size : end]
        if payload[:1] != b"{" or payload[-1:] != b"}":
            problems.append((off, "payload is not a JSON object (framing lost; the rest of the file is unread)"))
            break
        if kind >= kinds:
            problems.append((off, f"unknown kind {kind}"))
        else:
            out.append((kind, payload))
        off = end
    return out, problems


class Spool:
    """The spool files of one publisher, oldest first (see the module docstring)."""

    def __init__(self, directory: Path, kinds: int, log: Any) -> None:
        self.directory = Path(directory)
        self.kinds = kinds
        self.log = log
        self.files: collections.deque[Path] = collections.deque()
        self._seq = 0
        self._damaged: set[Path] = set()  # read with problems: quarantined once their good records are sent
        self.quarantined = 0    # files moved to quarantine/
        self.bad_records = 0    # problems found: a skipped record, or a file's unreadable rest

    def __len__(self) -> int:
        return len(self.files)

    def recover(self) -> int:
        """Files left by a previous run are sent first (they are older than anything new)."""
        if self.directory.is_dir():
            self.files.extend(sorted(self.directory.glob("spool-*.bin")))
        return len(self.files)

    def write(self, items: Iterable[Item]) -> Path:
        """A new spool file holding ``items`` in order (fsynced, renamed into place); OSError on failure."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = self.directory / f"spool-{time.time_ns():020d}-{self._seq:06d}.bin"
        tmp = path.with_suffix(".tmp")
        parts: list[bytes] = []
        for kind, payload in items:
            parts.append(REC.pack(kind, len(payload)))
            parts.append(payload)
        try:
            with open(tmp, "wb") as fh:
                fh.write(b"".join(parts))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.rename(path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a half-written file would only take more of a full disk
            raise
        self.files.append(path)
        return path

    def read_head(self) -> tuple[Path, list[Item]] | None:
        """The oldest file and its good records; unreadable or empty files are moved aside on the way."""
        while self.files:
            path = self.files[0]
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                self.log.warning("spool_file_missing", file=path.name)
                self.files.popleft()
                continue
            except OSError as exc:
                self.quarantine(path, f"unreadable: {exc.strerror or exc}")
                continue
            records, problems = parse_spool(data, self.kinds)
            if problems:
                self._damaged.add(path)
                self.bad_records += len(problems)
                self.log.error("spool_damaged", file=path.name, good_records=len(records),
                               problems=len(problems), first_offset=problems[0][0], why=problems[0][1],
                               effect="good records are sent, then the file is quarantined")
            if not records:
                self.done(path)
                continue
            return path, records
        return None

    def done(self, path: Path) -> None:
        """``path``'s records are in Redis: delete it (quarantine it when it was damaged)."""
        if self.files and self.files[0] == path:
            self.files.popleft()
        if path in self._damaged:
            self._damaged.discard(path)
            self.quarantine(path, "damaged records (its good records were sent)")
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # sent again at the next start: a duplicate is harmless, a dead publisher is not
            self.log.warning("spool_delete_failed", file=path.name, error=exc.strerror or str(exc))

    def quarantine(self, path: Path, why: str) -> None:
        """Move ``path`` to ``quarantine/`` (never read again), logged and counted."""
        with contextlib.suppress(ValueError):
            self.files.remove(path)
        self._damaged.discard(path)
        dest_dir = self.directory / QUARANTINE_DIR
        dest = dest_dir / path.name
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            n = 0
            while dest.exists():
                n += 1
                dest = dest_dir / f"{path.name}.{n}"
            path.rename(dest)
        except OSError as exc:
            # left in place: read again at the next start; nothing else is held up meanwhile
            self.log.error("spool_quarantine_failed", file=path.name, why=why, error=exc.strerror or str(exc))
            return
        self.quarantined += 1
        self.log.error("spool_quarantined", file=path.name, moved_to=str(dest), why=why)
