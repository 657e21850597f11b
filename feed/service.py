"""FeedService: composition only. Instruments + universe + connections + decoder/normaliser + publisher.

Data path (all on one event loop, the socket reader never awaits downstream):
    DhanConnection.on_frame -> Decoder.decode -> Normaliser.process -> Publisher.add (memory) ... Publisher.run
Universe changes are make-before-break: subscribe the entering strikes, wait for their first packets (or a
deadline), then unsubscribe the leaving ones, on the same connections, without a reconnect.

The 20- and 200-level depth sockets (:class:`feed.fulldepth.feeds.DepthFeeds`) follow the universe too, within
Dhan's 5 connections shared with the live feed (:class:`feed.budget.ConnectionBudget`, the one ledger):
the depth feeds give connections back before the live feed opens another.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import orjson
from redis.exceptions import RedisError

from feed.budget import ConnectionBudget
from feed.connection import DhanConnection
from feed.fulldepth.feeds import DepthFeeds
from feed.instruments.parse import InstrumentInfo, fetch_scrip_master, parse_scrip_master_report
from feed.journal import Journal, NullJournal, make_journal
from feed.normalise import Normaliser
from feed.protocol.constants import SEGMENT_BY_NAME
from feed.protocol.decode import Decoder
from feed.publisher import KIND_DEPTH, KIND_QUOTES, KIND_TICKS, Publisher
from feed.side_routines import FeedEvents, last_quote_routine
from feed.subscriptions import Delta, ShardPlan
from feed.universe import Member, Universe, UniverseChange, UniverseSelector
from shared.backoff import backoff_s
from shared.bus import hash_mapping
from shared.calendar import TradingCalendar
from shared.clock import ist_trading_day
from shared.errors import ConfigError, DhanError
from shared.events import instrument_key
from shared.service import Service
from shared.settings import Settings

__all__ = ["FeedService"]

FIRST_PACKET_DEADLINE_S = 5.0
DRAIN_SHARE = 0.6  # of shutdown_deadline_s for the publisher to drain at stop
EVENTS_END_S = 1.0  # for the events routine's last flush at stop


def member_record(m: Member) -> dict[str, Any]:
    """What the universe hash holds per instrument (read by greeks, viz, control)."""
    i = m.info
    return {
        "seg": i.segment, "sid": i.security_id, "symbol": i.trading_symbol, "custom_symbol": i.custom_symbol,
        "underlying": i.underlying, "instrument": i.instrument,
        "expiry": i.expiry.isoformat() if i.expiry else None, "strike": i.strike, "option_type": i.option_type,
        "lot_size": i.lot_size, "tick_size": i.tick_size, "role": m.role, "mode": m.mode,
    }


class FeedService(Service):
    name = "feed"

    def __init__(self, settings: Settings, *, duration_s: float | None = None, instance: str | None = None,
                 instruments: list[InstrumentInfo] | None = None, today: date | None = None) -> None:
        super().__init__(settings, duration_s=duration_s, instance=instance)
        self._preloaded = instruments
        self._today = today
        self.decoder = Decoder(self._on_decode_problem)
        self.normaliser = Normaliser(on_bad=self._on_bad_value)
        self.frame_errors = 0  # frames the normaliser raised on (a bug, not bad data: bad values are counted)
        self._frame_error_types: set[str] = set()
        self.plan = ShardPlan()
        self.budget = ConnectionBudget()  # Dhan's 5 connections: the live feed's and the depth feeds'
        self.depth: DepthFeeds | None = None
        self.connections: list[DhanConnection] = []
        self.publisher: Publisher | None = None
        self.calendar: TradingCalendar | None = None  # market hours of the stall watchdog, loaded in setup
        self.selector: UniverseSelector | None = None
        self.universe: Universe | None = None
        self.universe_changes = 0
        self.events_log = FeedEvents(self.keys)
        self._q: list[bytes] = []
        self._t: list[bytes] = []
        self._d: list[bytes] = []
        self._rate_prev: tuple[float, int, int] = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)
        self._recentre_lock = asyncio.Lock()
        self._pub_stop = asyncio.Event()  # set at teardown: publisher drains then returns
        self._pub_task: asyncio.Task[None] | None = None
        self._events_task: asyncio.Task[None] | None = None
        # Every raw frame with its receive time, off the hot path (a bounded queue drained by a thread).
        self.journal: Journal | NullJournal = make_journal(settings, instance=self.instance,
                                                           on_failure=self._on_journal_failed)

    # --- setup ---
    async def _load_instruments(self) -> list[InstrumentInfo]:
        if self._preloaded is not None:
            return self._preloaded
        settings = self.settings
        url = settings.effective_instruments_url
        attempt = 0
        while True:
            try:
                text = await fetch_scrip_master(url, timeout_s=settings.instruments.timeout_s,
                                                max_bytes=settings.instruments.max_mb << 20)
                break
            except DhanError as exc:
                attempt += 1
                # ConfigError: a missing file, a body past the size cap - the same on every attempt
                if isinstance(exc, ConfigError) or attempt >= 8 or self.stopping.is_set():
                    raise
                delay = backoff_s(attempt, base_s=0.5, cap_s=5.0)
                self.log.warning("instruments_fetch_retry", attempt=attempt, delay_s=round(delay, 2), error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
        report = parse_scrip_master_report(text)
        self.log.info("instruments_loaded", rows=report.rows, instruments=len(report.instruments),
                      bad_rows=report.bad_rows, layout=report.layout)
        return report.instruments

    async def setup(self) -> None:
        assert self.redis is not None
        self.events_log.redis = self.redis
        await self.journal.start()
        self.calendar = TradingCalendar.load(self.settings.scheduler.holidays_file)  # one line when unreadable
        self.step = "loading instruments"
        instruments = await self._load_instruments()
        self.step = "selecting universe"
        today = self._today or ist_trading_day(time.time())
        self.selector = UniverseSelector(instruments, self.settings, today)
        for note in self.selector.notes:  # what the settings asked for but the master does not list
            self.log.warning("universe_note", note=note)
        ticks = {(SEGMENT_BY_NAME[i.segment], i.security_id): i.tick_size for i in instruments
                 if i.segment in SEGMENT_BY_NAME}
        self.normaliser.set_tick_sizes(ticks)
        self.universe = self.selector.initial({})
        if not self.universe.members:
            raise ConfigError("the universe is empty: check the scrip master (DHAN_INSTRUMENTS_URL) and settings")
        self.plan.add({k: m.mode for k, m in self.universe.members.items()})  # replayed by each connection
        await self._write_universe(self.universe.members.values(), ())
        self.publisher = Publisher(self.settings, self.redis, self.keys, write_ahead=self.journal.write_ahead,
                                   on_event=self._on_conn_event)
        self.depth = DepthFeeds(self.settings, self.budget, spawn=self.spawn, journal=self.journal,
                                on_event=self._on_conn_event, calendar=self.calendar)
        self.depth.publisher = self.publisher
        self.depth.set_tick_sizes(ticks)
        self._hold_main()
        for idx in range(self.plan.connections):
            self.connections.append(self._make_connection(idx))
        self.log.info("universe_selected", instruments=len(self.universe.members),
                      by_role=self.universe.count_by_role(), connections=self.plan.connections)

    def _hold_main(self) -> None:
        """Book the live feed's connections (the depth feeds, granted what is left, shrank first)."""
        if self.budget.allocation.main < self.plan.connections:
            self.budget.grant(self.plan.connections, 0, False)  # before the depth feeds' first grant
        self.budget.hold("main", self.plan.connections)
        self.budget.main_loads = self.plan.loads

    def _make_connection(self, idx: int) -> DhanConnection:
        return DhanConnection(idx, self.settings, self.plan, self._on_frame, on_event=self._on_conn_event,
                              calendar=self.calendar)

    # --- hot path ---
    def _on_frame(self, frame: bytes, recv_ts: float) -> None:
        self.journal.append(frame, recv_ts)  # the raw frame, good or bad: the journal holds what Dhan sent
        q, t, d = self._q, self._t, self._d
        try:
            self.normaliser.feed_frame(self.decoder, frame, recv_ts, q, t, d)
        except Exception as exc:  # one frame must never end the read loop, and with it the feed
            self._on_frame_error(frame, exc)
        pub = self.publisher
        assert pub is not None
        if q:
            pub.add(KIND_QUOTES, q)
            q.clear()
        if t:
            pub.add(KIND_TICKS, t)
            t.clear()
        if d:
            pub.add(KIND_DEPTH, d)
            d.clear()

    def _on_journal_failed(self, exc: BaseException) -> None:
        self.fail(f"{self.instance}.journal", exc)  # its writer thread: owned like a task

    def _on_decode_problem(self, kind: str, info: dict[str, Any]) -> None:
        self.log.warning("bad_packet", kind=kind, **info)

    def _on_bad_value(self, kind: str, info: dict[str, Any]) -> None:
        self.log.warning("bad_value", kind=kind, detail="packet dropped; counted in bad_values_<kind>", **info)

    def _on_frame_error(self, frame: bytes, exc: Exception) -> None:
        self.frame_errors += 1
        name = type(exc).__name__
        if name not in self._frame_error_types:  # once per exception type, with its traceback
            self._frame_error_types.add(name)
            self.log.error("frame_failed", error=f"{name}: {exc}"[:300], head_hex=frame[:16].hex(), exc_info=exc)

    def _on_conn_event(self, event: dict[str, Any]) -> None:
        self.events_log.append(event)

    # --- run ---
    async def run(self) -> None:
        assert self.publisher is not None
        # Owned like every task, but left running at shutdown until teardown has let it drain the buffer.
        self._pub_task = self.spawn(self.publisher.run(self._pub_stop), "publisher", cancel_at_stop=False)
        conn_tasks = [self.spawn(c.run(self.stopping), f"conn{c.index}") for c in self.connections]
        self.spawn(self._recentre_routine(), "recentre")
        # not cancelled at stop: it ends by itself after its last flush (a cancel mid-write could send twice)
        self._events_task = self.spawn(self.events_log.run(self.stopping), "events", cancel_at_stop=False)
        assert self.redis is not None
        self.spawn(last_quote_routine(self.redis, self.keys, self.normaliser, self.stopping), "last_quote")
        assert self.depth is not None
        await self.depth.apply(self.universe, self.plan.connections)  # opens depth sockets if any are wanted
        await self.stopping.wait()
        await self.depth.stop()
        await asyncio.gather(*conn_tasks, return_exceptions=True)

    async def teardown(self) -> None:
        # Connections stop with the stop event; then the publisher drains what is buffered, and whatever it
        # still holds (Redis down, or the publisher died) goes to the spool before anything else can fail.
        try:
            await self._drain_publisher()
        finally:
            try:
                await self._end_events()
                if self.publisher is not None:
                    await self.publisher.close()
            finally:
                await self.journal.stop()

    async def _drain_publisher(self) -> None:
        self._pub_stop.set()
        task, pub = self._pub_task, self.publisher
        if task is not None and not task.done():
            # part of teardown's own deadline, so the spill and the journal's close still fit in it
            done, _ = await asyncio.wait({task}, timeout=DRAIN_SHARE * self.settings.service.shutdown_deadline_s)
            if not done:
                self.log.warning("publisher_drain_deadline", buffered=pub.buffered if pub else 0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if pub is not None:  # a death of the task is logged by its owner (shared.tasks.TaskOwner)
            died = task.exception() if task is not None and task.done() and not task.cancelled() else None
            pub.spill_for_exit(died)

    async def _end_events(self) -> None:
        """The events routine ends by itself at stop, after its last flush; then what came since is sent."""
        task = self._events_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=EVENTS_END_S)
        await self.events_log.flush()

    def health_problem(self) -> str | None:
        return self.publisher.health_problem() if self.publisher is not None else None

    # --- universe ---
    def _prices(self) -> dict[str, float]:
        assert self.selector is not None
        out: dict[str, float] = {}
        for underlying, keys in self.selector.underlying_price_keys().items():
            for seg, sid in keys:
                code = SEGMENT_BY_NAME.get(seg)
                price = self.normaliser.last_price(code, sid) if code is not None else None
                if price:
                    out[underlying] = price
                    break
        return out

    async def _recentre_routine(self) -> None:
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), self.settings.universe.recentre_check_s)
                return
            except TimeoutError:
                pass
            await self.recentre_once()

    async def recentre_once(self, prices: Mapping[str, float] | None = None) -> UniverseChange | None:
        """Re-centre the option windows on ``prices`` (underlying -> price; default: the latest LTPs)."""
        assert self.selector is not None and self.universe is not None
        async with self._recentre_lock:
            change = self.selector.recentre(self.universe, self._prices() if prices is None else prices)
            if change is None:
                return None
            await self._apply_change(change)
            return change

    async def _apply_change(self, change: UniverseChange) -> None:
        added = {m.key: m.mode for m in change.added}
        subscribe, unsub_modes = self.plan.add(added)
        if self.depth is not None:  # the depth set follows the new ATM; it gives back connections first
            await self.depth.apply(change.universe, self.plan.connections)
        self._hold_main()
        while self.plan.connections > len(self.connections):
            conn = self._make_connection(len(self.connections))
            self.connections.append(conn)
            self.spawn(conn.run(self.stopping), f"conn{conn.index}")
        # Announce the entering instruments before their first packets, so readers (greeks, viz) know them.
        await self._write_universe(change.added, ())
        await self._send(unsub_modes, subscribe=False)
        await self._send(subscribe, subscribe=True)
        # make-before-break: wait for the first packet of every entering instrument
        wanted = {(SEGMENT_BY_NAME[s], i) for s, i in added}
        deadline = time.monotonic() + FIRST_PACKET_DEADLINE_S
        while not wanted <= self.normaliser.first_seen and time.monotonic() < deadline:
            if self.stopping.is_set():
                return
            await asyncio.sleep(0.02)
        missing = len(wanted - self.normaliser.first_seen)
        removed_keys = [m.key for m in change.removed]
        await self._send(self.plan.remove(removed_keys), subscribe=False)
        for seg, sid in removed_keys:
            self.normaliser.forget(SEGMENT_BY_NAME[seg], sid)
        await self._write_universe((), change.removed)
        self.universe = change.universe
        self.universe_changes += 1
        self.log.info(
            "universe_changed", reason=change.reason, atm=change.universe.atm,
            added=[m.info.trading_symbol for m in change.added][:50],
            removed=[m.info.trading_symbol for m in change.removed][:50],
            added_n=len(change.added), removed_n=len(change.removed), first_packet_missing=missing,
        )
        self.events_log.append({
            "type": "universe_change", "ts": time.time(), "reason": change.reason, "atm": change.universe.atm,
            "added": [instrument_key(*m.key) for m in change.added],
            "removed": [instrument_key(*m.key) for m in change.removed],
        })

    async def _send(self, delta: Delta, *, subscribe: bool) -> None:
        for idx, by_mode in delta.items():
            await self.connections[idx].send(by_mode, subscribe=subscribe)

    async def _write_universe(self, added: Iterable[Member], removed: Iterable[Member]) -> None:
        assert self.redis is not None
        mapping = {instrument_key(*m.key): orjson.dumps(member_record(m)) for m in added}
        gone = [instrument_key(*m.key) for m in removed]
        self.journal.note_universe(mapping, gone)  # the journal mirrors the universe for replay and verify
        try:
            pipe = self.redis.pipeline(transaction=True)
            if mapping:
                pipe.hset(self.keys.universe, mapping=hash_mapping(mapping))
            if gone:
                pipe.hdel(self.keys.universe, *gone)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self.log.warning("universe_write_failed", error=str(exc))

    # --- heartbeat ---
    def metrics(self) -> dict[str, Any]:
        now = time.monotonic()
        st = self.decoder.stats
        t_prev, f_prev, p_prev = self._rate_prev
        dt = now - t_prev
        if dt >= 0.5:
            pub_total = sum(self.publisher.published) if self.publisher else 0
            self._rates = ((st.frames - f_prev) / dt, (pub_total - p_prev) / dt)
            self._rate_prev = (now, st.frames, pub_total)
        out: dict[str, Any] = {
            "frames": st.frames, "packets": st.packets, "bad_packets": st.bad,
            "truncated": st.truncated, "unknown": st.unknown, "oversized": st.oversized,
            "frames_per_s": round(self._rates[0], 1), "published_per_s": round(self._rates[1], 1),
            "instruments": len(self.plan), "connections": len(self.connections),
            "connections_up": sum(1 for c in self.connections if c.connected.is_set()),
            "reconnects": sum(c.reconnects for c in self.connections),
            "universe_changes": self.universe_changes, "frame_errors": self.frame_errors,
            "bad_values": self.normaliser.bad_total,
        }
        out.update({f"bad_values_{kind}": n for kind, n in self.normaliser.bad_values.items()})
        ages = [time.time() - c.last_frame_at for c in self.connections if c.last_frame_at]
        out["last_frame_age_s"] = round(min(ages), 3) if ages else ""
        if self.publisher is not None:
            out.update(self.publisher.metrics())
        out.update(self.journal.metrics())
        if self.depth is not None:
            out.update(self.depth.metrics())
        return out
