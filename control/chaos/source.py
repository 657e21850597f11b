"""The market a chaos run replays: a recorded session served by ``dhan replay`` where ``dhan sim`` would be.

:func:`record_session` records one first: ``dhan sim`` and ``dhan feed`` only (no writer), on a Redis of the
caller's, journaling into a folder until the feed has journaled the frames asked for, then both stop
cleanly so the journal is complete. :func:`read_recording` measures a recording (frames, first and last
receive time) and :func:`replay_speed` turns a wanted pace in frames per second into ``dhan replay --speed``
(a factor on the recorded pace). :class:`ReplayWatch` reads the replay server's ``/health``: frames routed
and whether the whole recording has been served.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from control.stack.supervisor import ChildSpec, Supervisor
from control.stack.up import load_instruments, wait_http
from feed.journal import KIND_FRAMES, JournalReader
from shared.errors import ConfigError
from shared.keys import Keys
from shared.settings import Settings

__all__ = ["Recording", "ReplayWatch", "journal_files", "read_recording", "record_session", "replay_speed"]

RECORD_TIMEOUT_S = 1800.0
_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class Recording:
    paths: tuple[Path, ...]
    frames: int
    first_ts: float      # receive time (epoch s) of the first frame
    last_ts: float       # ... and of the last

    @property
    def duration_s(self) -> float:
        return max(self.last_ts - self.first_ts, 1e-3)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.duration_s


def journal_files(paths: Sequence[Path]) -> list[Path]:
    """The journal files named, a folder standing for its ``*.djr`` files (oldest first); ConfigError when
    there are none."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(path.glob("*.djr"), key=lambda p: (p.stat().st_mtime, p.name))
        elif path.is_file():
            out.append(path)
        else:
            raise ConfigError(f"journal {path} does not exist")
    if not out:
        raise ConfigError(f"no journal (.djr) in {', '.join(str(p) for p in paths)}")
    return out


def read_recording(paths: Sequence[Path]) -> Recording:
    """Frames and their time span in the journal files (read in full: a second or so per 100,000 frames)."""
    frames, first, last = 0, float("inf"), float("-inf")
    for path in paths:
        for block in JournalReader(path).blocks():
            if block.kind == KIND_FRAMES and block.records:
                frames += len(block.records)
                first = min(first, block.first_ts)
                last = max(last, block.last_ts)
    if not frames:
        raise ConfigError(f"no frames in {', '.join(str(p) for p in paths)}: nothing to replay")
    return Recording(tuple(paths), frames, first, last)


def replay_speed(rate_per_s: float, recording: Recording) -> float:
    """``dhan replay --speed`` that serves ``recording`` at about ``rate_per_s`` frames per second."""
    if rate_per_s <= 0:
        raise ConfigError("the replay rate must be above 0 frames per second")
    return rate_per_s / recording.frames_per_s


async def record_session(settings: Settings, keys: Keys, directory: Path, env: dict[str, str], frames: int,
                         log: Any) -> Recording:
    """Run ``dhan sim`` and ``dhan feed`` with ``env`` (which points the journal at ``directory`` and Redis at
    a server of the caller's) until the feed has journaled ``frames`` frames; stop both cleanly."""
    sup = Supervisor(directory.parent / "logs-recording", stable_s=5.0)
    for name in ("sim", "feed"):
        sup.add(ChildSpec(name, (name,), env=env))
    client = aioredis.Redis.from_url(env["DHAN_REDIS_URL"], socket_connect_timeout=1, socket_timeout=5)
    key = keys.svc("feed")
    try:
        await sup.start("sim")
        await wait_http(f"http://{settings.sim.host}:{settings.sim.port}/health", 60)
        await load_instruments(settings, log)
        await sup.start("feed")
        deadline = time.monotonic() + RECORD_TIMEOUT_S
        log.info("chaos_recording", frames=frames, directory=str(directory))
        while int(float((await client.hget(key, "journal_frames")) or 0)) < frames:
            if time.monotonic() > deadline or sup.children["sim"].state == "crashed":
                raise ConfigError(f"chaos: recording {frames} frames did not finish within {RECORD_TIMEOUT_S:g}s "
                                  f"(logs in {sup.log_dir})")
            await asyncio.sleep(0.2)
        await sup.stop("feed")  # a clean stop: the journal is closed with every frame received
    finally:
        await sup.stop_all(["feed", "sim"])
        await client.aclose()
    return await asyncio.to_thread(read_recording, journal_files([directory]))


class ReplayWatch:
    """The replay server's ``/health``, read at most every half second (:meth:`poll`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stats: dict[str, Any] = {}
        self._read_at = 0.0

    @property
    def finished(self) -> bool:
        """The whole recording has been served (as of the last poll)."""
        return bool(self.stats.get("replay_finished"))

    async def poll(self, *, force: bool = False) -> dict[str, Any]:
        if force or time.monotonic() - self._read_at >= _POLL_S:
            self._read_at = time.monotonic()
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session, \
                        session.get(self.url) as resp:
                    if resp.status == 200:
                        self.stats = await resp.json()
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass  # restarting: keep the last answer
        return self.stats
