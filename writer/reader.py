"""Redis side of the writer: the consumer group on the four streams, as thin I/O.

Reads use raw replies (no per-entry dict building): an entry is ``[id, [b"d", payload]]``, or
``[id, nil]`` when it was trimmed while pending. Group state comes from one Lua script per stream, which
also detects entries trimmed before they were ever delivered (see :data:`_GROUP_STATE_LUA`).

How large the stream caps must be: the feed trims with ``MAXLEN ~`` whatever the acks say, so a writer
outage of T seconds at R entries/s on a stream survives only if its cap >= R x T (plus ~10 % for the
approximate trim). With the defaults, dhan:ticks (5,000,000) at 2,000 trades/s holds 41 minutes and at
5,000/s 16 minutes; dhan:quotes (2,000,000) at 5,000/s holds 6.6 minutes (lost quotes are superseded
by later ones, so only instruments that go quiet lose their latest state). Each entry costs Redis about
200-300 bytes: 5 M ticks are ~1.5 GB of memory. Anything trimmed unread raises
``stream_trimmed_unwritten`` on dhan:alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.deadletter import dead_letter_fields
from shared.events import EVENT_FIELD
from shared.keys import STREAM_KINDS, Keys
from writer.batch import Entry, Poison

__all__ = ["GroupState", "StreamReader", "id_order"]

# KEYS[1] stream, ARGV[1] group, ARGV[2] largest lag worth counting with XRANGE -> {length, lag (-1 unknown),
# pending, lost, last-delivered-id, last-generated-id}.
# Redis keeps a per-group "entries read" counter; when MAXLEN trims entries the group never read, the group
# later skips over the gap while its counter only grows by what it really read, so lag (entries added -
# entries read) exceeds the entries still undelivered in the stream by exactly the number trimmed unread.
# Undelivered entries: none when the group has delivered the newest id; all of them when its last id is
# older than the first entry; else counted with XRANGE if lag is small (else checked on a later call).
# On a loss the counter is reset (XGROUP SETID ... ENTRIESREAD), atomically with the check, so one loss is
# reported once, by one writer. "lost" is -1 when it cannot be counted (no valid counter, e.g. after XDEL).
_GROUP_STATE_LUA = """
local function field(arr, name)
  for i = 1, #arr, 2 do if arr[i] == name then return arr[i + 1] end end
  return nil
end
local function older(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  if ams ~= bms then return ams < bms end
  return aseq < bseq
end
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local length = field(info, 'length')
local added = field(info, 'entries-added')
local first = field(info, 'first-entry')
local last_generated = field(info, 'last-generated-id')
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if field(g, 'name') == ARGV[1] then
    local last = field(g, 'last-delivered-id')
    local lag = field(g, 'lag')
    local entries_read = field(g, 'entries-read')
    local behind_first = (not first) or older(last, first[1])
    local lost = 0
    local undelivered = nil
    if last == last_generated then
      undelivered = 0
    elseif behind_first then
      undelivered = length
    elseif lag and lag <= tonumber(ARGV[2]) then
      undelivered = #redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', lag + 1)
    end
    if entries_read and lag then
      if undelivered and lag > undelivered then lost = lag - undelivered end
    elseif behind_first and added > length then
      -- no valid counter (a group that never read, or after XDEL): Redis's lag estimate counts the gap as
      -- read. A group that never delivered anything missed every entry gone; otherwise the count is unknown.
      undelivered = length
      if last == '0-0' then lost = added - length else lost = -1 end
    end
    if lost ~= 0 then
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], last, 'ENTRIESREAD', added - undelivered)
      lag = undelivered
    end
    if not lag then lag = -1 end
    return {length, lag, field(g, 'pending'), lost, last, last_generated}
  end
end
return false
"""
COUNT_LAG_MAX = 20_000  # an XRANGE of this many ids costs Redis a few milliseconds at most


@dataclass(frozen=True, slots=True)
class GroupState:
    length: int
    lag: int  # -1: unknown (Redis cannot count past deleted entries)
    pending: int
    lost: int  # entries trimmed before delivery since the last check; -1: some, count unknown
    caught_up: bool  # nothing undelivered: lag 0, or the group has delivered the newest id


def _raw(response: Any, **_: Any) -> Any:
    return response


def _entries(kind: str, raw: Any, gone: list[tuple[str, bytes]]) -> list[Entry]:
    out: list[Entry] = []
    for item in raw or ():
        entry_id, fields = item[0], item[1]
        if fields is None:  # trimmed while pending: the payload is lost
            gone.append((kind, entry_id))
        elif len(fields) == 2 and fields[0] == EVENT_FIELD:
            out.append(Entry(kind, entry_id, fields[1]))
        else:
            pairs = dict(zip(fields[::2], fields[1::2], strict=False))
            out.append(Entry(kind, entry_id, pairs.get(EVENT_FIELD)))
    return out


class StreamReader:
    """Consumer ``consumer`` of group ``writer`` on the quotes, ticks, depth and greeks streams."""

    def __init__(self, client: aioredis.Redis, keys: Keys, consumer: str, *, group: str = Keys.WRITER_GROUP) -> None:
        self.client = client
        self.keys = keys
        self.consumer = consumer
        self.group = group
        self.streams = {kind: keys.stream(kind) for kind in STREAM_KINDS}
        self._kind_of = {name.encode(): kind for kind, name in self.streams.items()}
        for command in ("XREADGROUP", "XAUTOCLAIM", "XCLAIM"):
            client.set_response_callback(command, _raw)
        self._group_state = client.register_script(_GROUP_STATE_LUA)
        self._command: Any = client.execute_command  # raw replies (callbacks above); untyped in redis-py

    async def ensure_groups(self) -> None:
        """Create group ``writer`` at id 0 on every stream (MKSTREAM); an existing group is kept."""
        for name in self.streams.values():
            try:
                await self.client.xgroup_create(name, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read(
        self,
        count: int,
        block_ms: int | None,
        *,
        pending: dict[str, bytes] | None = None,
        gone: list[tuple[str, bytes]] | None = None,
    ) -> list[Entry]:
        """New entries (``>``), or with ``pending`` (kind -> after-id) this consumer's own pending ones."""
        names = list(self.streams.values()) if pending is None else [self.streams[k] for k in pending]
        ids: list[Any] = [">"] * len(names) if pending is None else list(pending.values())
        args: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        reply = await self._command(*args, "STREAMS", *names, *ids)
        out: list[Entry] = []
        sink = gone if gone is not None else []
        # RESP3 (redis-py's default) answers a map stream -> entries, RESP2 a list of [stream, entries].
        for name, raw in reply.items() if isinstance(reply, dict) else reply or ():
            out.extend(_entries(self._kind_of[name], raw, sink))
        return out

    async def autoclaim(
        self, kind: str, min_idle_ms: int, start: bytes, count: int
    ) -> tuple[bytes, list[Entry], list[tuple[str, bytes]]]:
        """XAUTOCLAIM idle entries of dead consumers: (next cursor, entries, ids trimmed while pending)."""
        reply = await self._command(
            "XAUTOCLAIM", self.streams[kind], self.group, self.consumer, min_idle_ms, start, "COUNT", count
        )
        gone: list[tuple[str, bytes]] = [(kind, i) for i in (reply[2] if len(reply) > 2 else [])]
        entries = _entries(kind, reply[1], gone)
        return reply[0], entries, gone

    async def delivery_counts(self, kind: str, entries: list[Entry]) -> dict[bytes, int]:
        """How often each of our pending ``entries`` was delivered (XPENDING extended form)."""
        if not entries:
            return {}
        ids = sorted((e.entry_id for e in entries), key=id_order)
        rows = await self.client.xpending_range(
            self.streams[kind],
            self.group,
            min=ids[0],
            max=ids[-1],
            count=len(ids) + 100,
            consumername=self.consumer,
        )
        out: dict[bytes, int] = {}
        for row in rows:
            entry_id: Any = row["message_id"]
            out[entry_id] = int(row["times_delivered"])
        return out

    async def renew(self, entries: list[Entry]) -> None:
        """Reset the idle time of entries we hold (XCLAIM JUSTID), so no other writer reclaims them."""
        by_kind: dict[str, list[bytes]] = {}
        for e in entries:
            by_kind.setdefault(e.kind, []).append(e.entry_id)
        pipe = self.client.pipeline(transaction=False)
        for kind, ids in by_kind.items():
            pipe.execute_command("XCLAIM", self.streams[kind], self.group, self.consumer, 0, *ids, "JUSTID")
        await pipe.execute()

    async def ack(self, entries: list[Entry] | list[tuple[str, bytes]]) -> None:
        by_kind: dict[str, list[bytes]] = {}
        for item in entries:
            kind, entry_id = (item.kind, item.entry_id) if isinstance(item, Entry) else item
            by_kind.setdefault(kind, []).append(entry_id)
        if not by_kind:
            return
        pack: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command  # its stub types a 1-tuple
        await self._send_packed(
            b"".join(pack(("XACK", self.streams[kind], self.group, *ids)) for kind, ids in by_kind.items()),
            len(by_kind),
        )

    async def _send_packed(self, commands: bytes, replies: int) -> None:
        """Commands packed by the caller, on one connection of the client's pool, like a pipeline without
        the MULTI; the first error reply raises (as ``ResponseError``) after every reply is read.

        An XACK of a batch carries an id an event, and redis-py packs each argument in Python: acking cost
        0.55-0.60x the CPU of its pipeline (``bench/writer_ack.py``: ~0.5 against ~0.95 us an entry), ~3-4%
        of the writer's CPU per event. A failure mid-way drops the connection, so no stray reply is read
        later; an error reply is read in turn and the connection goes back to the pool in step."""
        pool = self.client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
        error: ResponseError | None = None
        try:
            await conn.send_packed_command(commands)
            for _ in range(replies):
                try:
                    await conn.read_response()
                except ResponseError as exc:
                    error = error or exc
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        if error is not None:
            raise error

    async def dead_letter(self, poison: list[Poison], *, maxlen: int, payload_max: int) -> None:
        """Move entries to the dead-letter stream (:mod:`shared.deadletter`) and ack them, atomically."""
        if not poison:
            return
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        for p in poison:
            fields = dead_letter_fields(
                stream=self.streams[p.entry.kind], entry_id=p.entry.entry_id.decode(), reason=p.reason,
                consumer=self.consumer, group=self.group, payload=p.entry.payload, payload_max=payload_max, now=now,
            )  # fmt: skip
            pipe.xadd(self.keys.deadletter, fields, maxlen=maxlen, approximate=True)
        for p in poison:
            pipe.xack(self.streams[p.entry.kind], self.group, p.entry.entry_id)
        await pipe.execute()

    async def group_state(self, kind: str) -> GroupState | None:
        reply = await self._group_state(keys=[self.streams[kind]], args=[self.group, COUNT_LAG_MAX])
        if not reply:
            return None
        length, lag, pending, lost, last_delivered, last_generated = reply
        caught_up = lag == 0 or (lag < 0 and last_delivered == last_generated)
        return GroupState(int(length), int(lag), int(pending), int(lost), caught_up)


def id_order(entry_id: bytes) -> tuple[int, int]:
    """Sort key of a stream entry id (``b"ms-seq"``): Redis's own order."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)
