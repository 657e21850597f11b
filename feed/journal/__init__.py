"""The feed's journal: every raw frame with its receive time, append-only, one file per IST day and instance.

Read back with :class:`JournalReader`; ``dhan replay`` serves a journal to a feed, ``dhan verify`` checks
MySQL against it. Where each concern lives:

=================  ==========================================================================================
``format``         the file: blocks, codecs, the frames payload, file names (pure)
``reader``         :class:`JournalReader`: blocks and records of a file, torn tails and damage skipped
``journal``        :class:`Journal`, the feed's side: ``append`` on the hot path (a bounded queue), notes,
                   ``write_ahead``, start and stop; :class:`NullJournal` when ``journal_enabled`` is false
``writer``         the writer thread: queue -> compressed blocks of the day's file, rotation at IST midnight
``dayfile``        the file being appended to: torn tail cut, fsync policy, write errors; quarantine
``wal``            the write-ahead file: what the writer thread has not written yet survives a SIGKILL
``recovery``       at start, a killed run's write-ahead file into the journal
``counters``       the counters all of them share (heartbeat fields ``journal_*``)
=================  ==========================================================================================

Damage never stops the feed: a write-ahead file with damaged blocks or malformed notes, or that cannot be read,
and a journal file whose signature is gone, are moved to ``<journal_dir>/quarantine/`` (what could be read is
recovered first), logged (``journal_quarantined``) and counted (``journal_quarantined``); the feed starts a
fresh file. The writer thread dying is reported through ``on_failure`` (the feed then stops, exit 1) and
keeps the write-ahead file for the next start.
"""

from __future__ import annotations

from feed.journal.counters import JournalCounters
from feed.journal.format import (
    BLOCK_MAGIC,
    CODEC_STORED,
    CODEC_ZLIB,
    CODEC_ZSTD,
    CRC_STRUCT,
    FORMAT_VERSION,
    HEAD_STRUCT,
    HEADER_BYTES,
    KIND_DEPTH,
    KIND_FRAMES,
    KIND_META,
    MAX_BLOCK_COMP,
    MAX_BLOCK_RAW,
    SIGNATURE,
    BlockCodec,
    DepthFrame,
    Record,
    journal_path,
    pack_frames,
    unpack_frames,
    wal_path,
)
from feed.journal.journal import SIM_LISTING_SETTINGS, Journal, NullJournal, make_journal, source_meta
from feed.journal.reader import Block, JournalReader, ReadStats
from feed.journal.recovery import MATCH_RECORDS, missing_from

__all__ = [
    "BLOCK_MAGIC", "CODEC_STORED", "CODEC_ZLIB", "CODEC_ZSTD", "CRC_STRUCT", "FORMAT_VERSION", "HEADER_BYTES",
    "HEAD_STRUCT", "KIND_DEPTH", "KIND_FRAMES", "KIND_META", "MATCH_RECORDS", "MAX_BLOCK_COMP", "MAX_BLOCK_RAW",
    "SIGNATURE", "SIM_LISTING_SETTINGS", "Block", "BlockCodec", "DepthFrame", "Journal", "JournalCounters",
    "JournalReader", "NullJournal", "ReadStats", "Record", "journal_path", "make_journal",
    "missing_from", "pack_frames", "source_meta", "unpack_frames", "wal_path",
]
