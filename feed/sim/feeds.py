"""What the simulator does with a client's requests, on the live feed and on the two depth feeds.

Live feed (``/``): JSON subscribe/unsubscribe frames of up to 100 instruments, 5,000 per connection. On
subscribe every simulated instrument gets its previous-close packet, then its current state in the subscribed
mode (:meth:`feed.sim.book.SimInstrument.snapshot`: ticker, quote with OI on derivatives, or full; an index
sends its value in every mode), whether or not it trades, as Dhan does, with its book at the current price
(:meth:`feed.sim.market.Market.requote`); a mode change is a subscribe in the new
mode, so it gets them again. The market-status packet follows the first subscription of a connection.

Depth feeds (``/twentydepth``, ``/twohundreddepth``): request code 23 subscribes (50 instruments per connection
on the 20-level feed, one on the 200-level feed), 24 or 25 unsubscribes, 12 closes. Only NSE_EQ and NSE_FNO
instruments have depth there, as on Dhan; others are logged once and skipped. A subscribed instrument's book is
sent at once (bid packet then ask packet), then with every update of the instrument.

On either feed a bad frame is counted (``bad_requests``), logged once per kind of problem and ignored;
instruments that are not simulated may be subscribed (they count against the limits) but send nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from feed.protocol.constants import (
    DEPTH_MAX_INSTRUMENTS,
    DEPTH_SEGMENTS,
    MAX_INSTRUMENTS_PER_CONNECTION,
    SEGMENT_BY_NAME,
    DepthRequestCode,
    RequestCode,
)
from feed.protocol.encode import pack_market_status
from feed.protocol.requests import Instrument, RequestError, parse_depth_request, parse_request
from feed.sim.connection import SimConnection
from feed.sim.market import DEPTH_MODES, MODES, Market

if TYPE_CHECKING:
    from feed.sim.server import SimServer

__all__ = ["DepthFeed", "MainFeed", "report_bad_request"]

_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\d+")


def report_bad_request(server: SimServer, conn: SimConnection, exc: Exception) -> None:
    """Count a bad request frame; log it once per kind of problem on this connection (the reason with its
    quoted values masked, so the set of kinds stays small)."""
    server.bad_requests += 1
    kind = _VALUES.sub("?", str(exc))[:60]
    if conn.report_once(f"bad:{kind}"):
        server.log.warning("request_ignored", conn=conn.conn_id, feed=conn.feed, why=str(exc)[:200])


def _unsubscribe(market: Market, conn: SimConnection, instruments: Iterable[Instrument]) -> None:
    for seg_name, sid in instruments:
        key = (SEGMENT_BY_NAME[seg_name], sid)
        if conn.subs.pop(key, None) is not None:
            inst = market.lookup(*key)
            if inst is not None:
                market.unsubscribe(inst, conn)


def _over_limit(server: SimServer, conn: SimConnection, key: tuple[int, int], limit: int) -> bool:
    if key in conn.subs or len(conn.subs) < limit:
        return False
    if conn.report_once("limit"):
        server.log.warning("subscription_limit", conn=conn.conn_id, feed=conn.feed, limit=limit)
    return True


class MainFeed:
    """Requests on the live feed's WebSocket."""

    def __init__(self, server: SimServer) -> None:
        self.server = server

    def on_request(self, conn: SimConnection, text: str) -> bool:
        """Apply one JSON request; True when the client asked to disconnect (code 12)."""
        try:
            req = parse_request(text)
        except (RequestError, ValueError) as exc:  # ValueError too: a parser bug must not end the connection
            report_bad_request(self.server, conn, exc)
            return False
        if req.code == RequestCode.DISCONNECT:
            self.server.log.info("client_disconnect_request", conn=conn.conn_id)
            return True
        mode = req.mode
        if mode is None:  # CONNECT (a v1 request): nothing to do in v2
            return False
        market = self.server.market
        assert market is not None
        if req.is_subscribe:
            self._subscribe(market, conn, req.instruments, MODES.index(mode))
        else:
            _unsubscribe(market, conn, req.instruments)
        return False

    def _subscribe(self, market: Market, conn: SimConnection, instruments: Iterable[Instrument], mode: int) -> None:
        server = self.server
        replies: list[bytes] = []
        for seg_name, sid in instruments:
            key = (SEGMENT_BY_NAME[seg_name], sid)
            if _over_limit(server, conn, key, MAX_INSTRUMENTS_PER_CONNECTION):
                continue
            conn.subs[key] = mode
            inst = market.lookup(*key)
            if inst is not None:
                market.subscribe(inst, conn, mode)
                market.requote(inst)
                replies.append(inst.prev_close_packet())
                replies.extend(inst.snapshot(mode))
        if not conn.status_sent:
            conn.status_sent = True
            replies.append(pack_market_status())
        server.sent_count += conn.write_now(replies, server.recorder)


class DepthFeed:
    """Requests on one of the depth WebSockets (``levels`` 20 or 200)."""

    def __init__(self, server: SimServer, levels: int) -> None:
        self.server = server
        self.levels = levels
        self.name = "twentydepth" if levels == 20 else "twohundreddepth"
        self.mode = DEPTH_MODES[levels]
        self.limit = DEPTH_MAX_INSTRUMENTS[levels]

    def on_request(self, conn: SimConnection, text: str) -> bool:
        """Apply one JSON request; True when the client asked to disconnect (code 12)."""
        try:
            req = parse_depth_request(text, self.levels)
        except (RequestError, ValueError) as exc:
            report_bad_request(self.server, conn, exc)
            return False
        if req.code == RequestCode.DISCONNECT:
            self.server.log.info("client_disconnect_request", conn=conn.conn_id, feed=conn.feed)
            return True
        market = self.server.market
        assert market is not None
        if req.code == DepthRequestCode.SUBSCRIBE:
            self._subscribe(market, conn, req.instruments)
        else:
            _unsubscribe(market, conn, req.instruments)
        return False

    def _subscribe(self, market: Market, conn: SimConnection, instruments: Iterable[Instrument]) -> None:
        server = self.server
        replies: list[bytes] = []
        for seg_name, sid in instruments:
            key = (SEGMENT_BY_NAME[seg_name], sid)
            if key[0] not in DEPTH_SEGMENTS:
                server.bad_requests += 1
                if conn.report_once(f"segment:{seg_name}"):
                    server.log.warning("depth_not_available", conn=conn.conn_id, feed=conn.feed,
                                       segment=seg_name, why="the depth feeds serve NSE_EQ and NSE_FNO only")
                continue
            if _over_limit(server, conn, key, self.limit):
                continue
            conn.subs[key] = self.mode
            inst = market.lookup(*key)
            if inst is not None:
                market.subscribe(inst, conn, self.mode)
                market.requote(inst)
                replies.append(market.depth_message(inst, self.levels))
        server.sent_count += conn.write_now(replies)
