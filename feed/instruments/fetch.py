"""Loading the scrip master's text: from an http(s) URL or a local file, bounded in size and (downloads) in time.

:func:`fetch_scrip_master` returns the text (UTF-8, or Latin-1 where a name carries such bytes); parsing is
:mod:`feed.instruments.parse`, which re-exports this function.
"""

from __future__ import annotations

import asyncio
import errno
import stat
from pathlib import Path

import aiohttp

from shared.errors import ConfigError, DhanError
from shared.settings import mask_url

__all__ = ["SCRIP_MASTER_MAX_BYTES", "fetch_scrip_master"]

# Real compact rows average 88 B (tests/data): 256 MiB is ~3 million rows, over ten times the ~200k rows of a
# master. A body past this is not a scrip master (DHAN_INSTRUMENTS_MAX_MB; this is its default).
SCRIP_MASTER_MAX_BYTES = 256 * 1024 * 1024


def _decode(data: bytes | bytearray) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Names occasionally carry Latin-1 bytes; the fields we key on are ASCII either way.
        return data.decode("latin-1")


def _too_large(source: str, max_bytes: int) -> ConfigError:
    return ConfigError(f"scrip master {source} is larger than {max_bytes / 2**20:g} MiB: not a scrip master "
                       "(or raise DHAN_INSTRUMENTS_MAX_MB)")


async def fetch_scrip_master(
    url_or_path: str, *, timeout_s: float = 60, max_bytes: int = SCRIP_MASTER_MAX_BYTES
) -> str:
    """The scrip master's text from an http(s) URL or a local file path (``file://`` accepted): at most
    ``max_bytes`` (a ConfigError beyond); a download within ``timeout_s`` (a DhanError after)."""
    if url_or_path.startswith(("http://", "https://")):
        return await _fetch_http(url_or_path, timeout_s, max_bytes)
    path = Path(url_or_path.removeprefix("file://"))
    try:
        data = await asyncio.to_thread(_read_file, path, max_bytes)
    except FileNotFoundError:
        raise ConfigError(f"scrip master file not found: {path} (set DHAN_INSTRUMENTS_URL)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read scrip master file {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise _too_large(str(path), max_bytes)
    return _decode(data)


def _read_file(path: Path, max_bytes: int) -> bytes:
    """At most ``max_bytes`` + 1 bytes of a regular file (a FIFO or a device would block or never end)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    with path.open("rb") as fh:
        return fh.read(max_bytes + 1)


async def _fetch_http(url: str, timeout_s: float, max_bytes: int) -> str:


    shown = mask_url(url)
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)  # the whole download, a trickling body included
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status != 200:
                raise DhanError(f"scrip master download failed: HTTP {resp.status} from {shown}")
            if (resp.content_length or 0) > max_bytes:
                raise _too_large(shown, max_bytes)
            data = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                data += chunk
                if len(data) > max_bytes:  # no or a false Content-Length: counted as it comes
                    raise _too_large(shown, max_bytes)
    except TimeoutError:
        raise DhanError(f"scrip master download timed out after {timeout_s:g}s: {shown}") from None
    except aiohttp.ClientError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DhanError(f"scrip master unreachable at {shown}: {reason}") from None
    return _decode(data)
