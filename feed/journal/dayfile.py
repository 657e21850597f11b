"""One journal file open for append (:class:`JournalFile`), and :func:`quarantine` for damaged files.

Opening cuts a torn tail (a crash while writing) so blocks continue on an intact one; a file whose signature is
gone cannot be appended to and is set aside. Writes are counted; a write error closes the file, its frames
counted lost, and :meth:`JournalFile.retry_due` tells the writer thread when to try opening again.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import BinaryIO

from feed.journal.counters import JournalCounters
from feed.journal.format import SIGNATURE
from feed.journal.reader import JournalReader
from shared.errors import ConfigError
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["REOPEN_EVERY_S", "JournalFile", "quarantine"]

REOPEN_EVERY_S = 5.0
_log = get_logger("feed.journal")


def quarantine(directory: Path, path: Path, why: str, counters: JournalCounters) -> bool:
    """Move a damaged file to ``<directory>/quarantine/`` (kept for inspection), logged and counted."""
    dest = directory / "quarantine" / f"{path.name}.{time.time_ns()}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.rename(dest)
    except OSError as exc:
        _log.error("journal_quarantine_failed", path=str(path), why=why[:200], error=exc.strerror or str(exc))
        return False
    counters.quarantined += 1
    _log.error("journal_quarantined", path=str(path), moved_to=str(dest), why=why[:200])
    return True


class JournalFile:
    """One journal file open for append: writes blocks, fsyncs by policy (``journal_fsync``), and closes
    itself on a write error (``retry_due`` then tells when to try opening again)."""

    def __init__(self, settings: Settings, counters: JournalCounters) -> None:
        self.path: Path | None = None
        self.counters = counters
        self._fh: BinaryIO | None = None
        self._fsync = settings.journal.fsync
        self._fsync_every_s = settings.journal.fsync_interval_s
        self._unsynced = False
        self._last_fsync = 0.0
        self._failed_at = 0.0

    @property
    def is_open(self) -> bool:
        return self._fh is not None

    def open(self, path: Path) -> bool:
        """Open ``path`` to append (its torn tail cut); True when it is new (the caller writes its header).
        ConfigError, one line, when it cannot."""
        try:
            new, end = self._valid_end(path)
            if path.exists() and path.stat().st_size > end:
                cut = path.stat().st_size - end
                with path.open("r+b") as tail:
                    tail.truncate(end)
                if not new:
                    self.counters.truncated_tail_bytes += cut
                    _log.warning("journal_torn_tail_cut", path=str(path), bytes=cut)
            fh = path.open("ab", buffering=0)
        except (OSError, ConfigError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"journal {path} cannot be opened for append ({why}); "
                              "check DHAN_JOURNAL_DIR or set DHAN_JOURNAL_ENABLED=false") from None
        self._fh, self.path = fh, path
        if new:
            fh.write(SIGNATURE)
        return new

    def _valid_end(self, path: Path) -> tuple[bool, int]:
        """(new, offset past the last intact block) of a file about to be appended to."""
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        if 0 < size < len(SIGNATURE) and SIGNATURE.startswith(path.read_bytes()):
            size = 0  # a crash right after creating the file
        if size == 0:
            return True, 0
        try:
            return False, JournalReader(path).valid_end()
        except ConfigError as exc:  # its signature is gone: nothing can be appended behind it
            if not quarantine(path.parent, path, str(exc), self.counters):
                raise
            return True, 0

    def write(self, data: bytes, frames: int) -> None:
        fh = self._fh
        if fh is None:
            self.counters.lost_frames += frames
            return
        try:
            fh.write(data)
        except OSError as exc:
            self._fail(exc)
            self.counters.lost_frames += frames
            return
        counters = self.counters
        counters.blocks += 1
        counters.bytes_written += len(data)
        counters.written_frames += frames
        self._unsynced = True
        if self._fsync == "block":
            self.sync(force=True)

    def sync(self, *, force: bool = False) -> None:
        fh = self._fh
        if fh is None or not self._unsynced or self._fsync == "none":
            return
        now = time.monotonic()
        if not force and now - self._last_fsync < self._fsync_every_s:
            return
        try:
            os.fsync(fh.fileno())
        except OSError as exc:
            self._fail(exc)
            return
        self.counters.fsyncs += 1
        self._unsynced = False
        self._last_fsync = now

    def make_durable(self) -> None:
        """fsync whatever the policy (recovered records, before the write-ahead file is started anew)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                if self._unsynced and self._fsync != "none":
                    os.fsync(fh.fileno())
                    self.counters.fsyncs += 1
                fh.close()
            self._unsynced = False

    def mark_failed(self) -> None:
        self._failed_at = time.monotonic()

    def retry_due(self) -> bool:
        """Closed, and the last failure (if any) at least REOPEN_EVERY_S ago: time to open it again."""
        return self._fh is None and time.monotonic() - self._failed_at >= REOPEN_EVERY_S

    def _fail(self, exc: OSError) -> None:
        self.counters.errors += 1
        _log.error("journal_write_failed", path=str(self.path), error=exc.strerror or str(exc))
        self.close()
        self.mark_failed()
