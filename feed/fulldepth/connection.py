"""One 20- or 200-level depth WebSocket: the live feed's connection machinery on another wire.

:class:`DepthConnection` is a :class:`~feed.connection.DhanConnection` (reconnect with backoff, the stall
watchdog with its market hours, disconnect reasons 805-809 with the same policy: auth-class reasons stop the
feed with one line, others reconnect) with the depth feeds' differences:

- URL ``<depth url>?token=..&clientId=..&authType=2`` (no ``version``, as Dhan's official client);
- requests with code 23 (subscribe) and 24 (unsubscribe), 50 instruments per message on the 20-level feed,
  the instrument inline on the 200-level feed (as Dhan's documents and official client);
- the disconnect packet's code at byte 2 and its reason as the uint32 at byte 8 (the 12-byte depth header);
- the stall watchdog follows NSE's session only (the depth feeds are NSE only; MCX trading till 23:30 keeps
  no depth socket busy);
- lifecycle events ``depth_connected`` / ``depth_disconnected`` with ``feed`` (``depth20``/``depth200``):
  a depth socket going down is no gap of the live feed, so the gap ledger's feed-wide ``connected`` /
  ``disconnected`` are not used.

Its instruments are its own list (:meth:`set_instruments`), replayed after every reconnect.
"""

from __future__ import annotations

import struct

import aiohttp

from feed.connection import DhanConnection, EventSink, FrameSink
from feed.protocol.requests import Instrument, build_depth200_request, build_depth_requests
from feed.subscriptions import ShardPlan
from shared.calendar import TradingCalendar
from shared.clock import Clock, system_clock
from shared.settings import Settings

__all__ = ["DepthConnection"]


class DepthConnection(DhanConnection):
    """A supervised depth WebSocket (``levels`` 20 or 200) carrying ``instruments``."""

    EVENT_PREFIX = "depth_"
    DISCONNECT_CODE_AT = 2
    DISCONNECT_BYTES = 12
    REASON = struct.Struct("<I")
    EXCHANGES = ("NSE",)

    def __init__(self, index: int, settings: Settings, levels: int, on_frame: FrameSink, *,
                 on_event: EventSink | None = None, clock: Clock = system_clock,
                 calendar: TradingCalendar | None = None) -> None:
        self.levels = levels
        self.FEED = f"depth{levels}"  # before the base class binds its logger and events to it
        super().__init__(index, settings, ShardPlan(), on_frame, on_event=on_event, clock=clock, calendar=calendar)
        self.instruments: list[Instrument] = []

    def url(self) -> str:
        token, client = self.credentials()
        base = self.settings.effective_depth_url(self.levels)
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}token={token}&clientId={client}&authType=2"

    def requests(self, keys: list[Instrument], *, subscribe: bool = True) -> list[str]:
        """The text frames that (un)subscribe ``keys`` on this feed."""
        if self.levels == 200:
            return [build_depth200_request(k, subscribe=subscribe) for k in keys]
        return build_depth_requests(keys, self.levels, subscribe=subscribe)

    async def _subscribe_all(self, ws: aiohttp.ClientWebSocketResponse) -> int:
        for frame in self.requests(self.instruments):
            await ws.send_str(frame)
        return len(self.instruments)

    async def set_instruments(self, keys: list[Instrument]) -> tuple[list[Instrument], list[Instrument]]:
        """Carry ``keys`` from now on: (un)subscribe the difference if connected (else the next connect
        subscribes them all). Returns (added, removed)."""
        old = set(self.instruments)
        added = [k for k in keys if k not in old]
        removed = [k for k in self.instruments if k not in set(keys)]
        self.instruments = list(keys)
        ws = self._ws
        if ws is not None and not ws.closed:
            for frame in self.requests(removed, subscribe=False) + self.requests(added):
                await ws.send_str(frame)
        return added, removed
