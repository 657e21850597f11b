"""A minimal pipelining RESP connection for the feed's publish path (one write, replies parsed by hiredis).

redis-py's async connection reads each reply through several awaits (measured ~14% of the feed's CPU at
full rate); here a whole batch of replies is parsed from the bytes already received, with one await per
socket read. Only the publisher uses it; everything else uses redis-py. Supports redis://, rediss:// and
unix:// URLs with AUTH (user/password) and SELECT, parsed by redis-py's own URL parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

__all__ = ["RespConnection", "RespError"]


class RespError(Exception):
    """An error reply from Redis (e.g. OOM), or a broken connection."""


def _pack(*args: bytes | str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class RespConnection:
    def __init__(self, url: str, *, connect_timeout_s: float = 3.0) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        opts: dict[str, Any] = dict(parse_url(self._url))
        cls = opts.get("connection_class")
        if cls is UnixDomainSocketConnection:
            conn = asyncio.open_unix_connection(opts["path"])
        else:
            ctx = ssl.create_default_context() if cls is SSLConnection else None
            conn = asyncio.open_connection(opts.get("host", "127.0.0.1"), opts.get("port", 6379), ssl=ctx)
        reader, writer = await asyncio.wait_for(conn, self._timeout)
        self._reader, self._writer = reader, writer
        self._parser = hiredis.Reader()
        hello: list[bytes] = []
        if opts.get("password"):
            user = opts.get("username")
            hello.append(_pack("AUTH", user, opts["password"]) if user else _pack("AUTH", opts["password"]))
        if opts.get("db"):
            hello.append(_pack("SELECT", str(opts["db"])))
        if hello:
            writer.write(b"".join(hello))
            for reply in await self.read_replies(len(hello)):
                if isinstance(reply, hiredis.ReplyError):
                    await self.close()
                    raise RespError(f"Redis refused the connection setup: {reply}")

    def write(self, data: bytes) -> None:
        if self._writer is None:
            raise RespError("not connected")
        self._writer.write(data)

    async def read_replies(self, n: int) -> list[Any]:
        """Exactly ``n`` replies, in order; error replies are returned as ``hiredis.ReplyError`` values."""
        assert self._reader is not None
        out: list[Any] = []
        gets = self._parser.gets
        while len(out) < n:
            reply = gets()
            if reply is False:
                data = await self._reader.read(1 << 16)
                if not data:
                    raise RespError("Redis closed the connection")
                self._parser.feed(data)
                continue
            out.append(reply)
        return out

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(TimeoutError, OSError, ConnectionError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
