"""One-minute candles from trades, and their resampling to 5m, 15m, 1h and the day (pure; no I/O).

Time. A trade's candle is the minute of its **exchange time** (``exchange_ts``, Dhan's epoch: IST wall-clock
time counted as if it were UTC, see ``shared.clock``), never of our receive time: the row must be a function
of the tick rows alone, so a replay (received again, later) or a recomputation from ``dhan_ticks`` gives the
same row. Dhan's epoch *is* IST wall time, so ``ts - ts % 60`` is the IST minute, ``ts % 86_400`` the IST time
of day and ``ts // 86_400`` the IST date (the trading day of NSE and of MCX, whose evening ends before
midnight) with no time-zone arithmetic. A minute is half-open, ``[start, start + 60)``: a trade stamped
15:30:00 is the first trade of minute 15:30, not the last of 15:29 (we never move a trade to a time it was
not stamped with; a chart shows a 15:30 bar only when the exchange stamped trades then).

Sequence. Within a trading day the cumulative volume (``cum_volume``) rises with every trade: it is the
exchange's own sequence and the ticks' natural key. Exchange times have whole seconds only, so several trades
share one. Hence "first" and "last" are by cumulative volume: **open** is the price of the trade with the
smallest cumulative volume in the bar, **close** (and the **OI at the close**, None when that trade carried
none) of the one with the largest. Wherever exchange times rise with volume (always, in the feed's data) this
is the earliest and latest exchange time, with ties broken by the true order.

Exactness. Prices are integer ten-thousandths (``price4``; ``DECIMAL(18,4)`` holds them exactly and currency
ticks are 0.0025), so the VWAP numerator ``turnover4 = sum(price4 * qty)`` is an exact integer and
``vwap = turnover4 / volume / 10**4``. The VWAP denominator is the volume itself.

Merging. A :class:`Candle` is a partial aggregate of some trades of one minute (or bar). :meth:`Candle.merge`
is associative and commutative: high/low are max/min, sums add, open/base come from the part with the smaller
``first_cum_volume`` and close/OI from the part with the larger ``last_cum_volume``. So partial aggregates
combine in any order and grouping to the aggregate of all their trades, which is what lets the writer upsert
per-batch increments (``shared.candles_sql.CANDLE_UPSERT``).

A trade must be added once. The writer guarantees it by folding only the ticks its transaction really
inserted (:func:`fold_candles` on the new rows; a redelivered tick hits the natural key and is not new). It is
detectable too: a part whose first or last trade equals the other's is refused (:class:`DuplicateTrade`), and
:attr:`Candle.unseen_volume` (``last_cum_volume - base_cum_volume - volume``) is the volume of the minute's
trade chain that is not in the candle: 0 complete, > 0 trades missing (a feed restart, lost rows), < 0 some
trade counted twice. ``qty`` is the rise of cumulative volume since the feed's previous trade, so the trades
of one feed chain cover ``(cum_volume - qty, cum_volume]`` without overlap, and a candle's trades lie in
``(base_cum_volume, last_cum_volume]``. A trade claiming more than its cumulative volume (never from the feed)
has a base of 0, so a bad row cannot make a negative (unsigned) column; it shows as ``unseen_volume < 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "DAY_S",
    "MINUTE_S",
    "OI_NONE",
    "PRICE_SCALE",
    "SESSION_OPEN_S",
    "SIDE_BUY",
    "SIDE_CODES",
    "SIDE_NONE",
    "SIDE_SELL",
    "TIMEFRAMES_S",
    "Candle",
    "DuplicateTrade",
    "LiveCandles",
    "Trade",
    "bucket_start",
    "fold_candles",
    "minute_start",
    "resample",
    "session_open_s",
    "trade_date",
    "trade_from_event",
]

MINUTE_S = 60
DAY_S = 86_400
PRICE_SCALE = 10_000  # prices as integer ten-thousandths
TIMEFRAMES_S = (60, 300, 900, 3_600, DAY_S)  # 1m, 5m, 15m, 1h, day
OI_NONE = -1  # "no OI" in integer arrays (OI is never negative)
SIDE_NONE, SIDE_BUY, SIDE_SELL = 0, 1, 2  # the codes of viz.models.ticks too
SIDE_CODES: Mapping[str, int] = {"": SIDE_NONE, "B": SIDE_BUY, "S": SIDE_SELL}

_H = 3_600
# Where each segment's session opens, IST seconds after midnight: the bars' grid starts there. NSE and BSE
# cash, F&O and indices open at 09:15 (the pre-open auction before it is not the grid); currency derivatives
# (09:00-17:00) and MCX (09:00-23:30/23:55) at 09:00.
SESSION_OPEN_S: Mapping[str, int] = {
    "IDX_I": 9 * _H + 900, "NSE_EQ": 9 * _H + 900, "NSE_FNO": 9 * _H + 900, "BSE_EQ": 9 * _H + 900,
    "BSE_FNO": 9 * _H + 900, "NSE_CURRENCY": 9 * _H, "BSE_CURRENCY": 9 * _H, "MCX_COMM": 9 * _H,
}  # fmt: skip

_K = TypeVar("_K")


def session_open_s(segment: str) -> int:
    """IST seconds after midnight at which ``segment``'s session (and its bar grid) starts."""
    try:
        return SESSION_OPEN_S[segment]
    except KeyError:
        raise ValueError(f"no session open known for segment {segment!r}") from None


def minute_start(exchange_ts: int) -> int:
    """Start of the IST minute holding ``exchange_ts`` (both Dhan epoch): ``ts - ts % 60``."""
    return exchange_ts - exchange_ts % MINUTE_S


def trade_date(exchange_ts: int) -> date:
    """The IST calendar day (the trading day) of a Dhan-epoch time."""
    return date(1970, 1, 1) + timedelta(days=exchange_ts // DAY_S)


def _check_period(period_s: int) -> None:
    if period_s <= 0 or period_s % MINUTE_S or DAY_S % period_s:
        raise ValueError(f"a bar period must be whole minutes dividing a day, got {period_s!r} s")


def bucket_start(ts: int, period_s: int, anchor_s: int) -> int:
    """Start of the ``period_s`` bar holding Dhan-epoch ``ts``, on the grid through ``anchor_s`` (IST seconds
    after midnight, the session open).

    The grid is ``anchor_s + k * period_s`` on every day (``period_s`` divides a day, so it is the same grid
    each day). A bar never starts before its day: times earlier than the day's first grid point (none in
    practice) fall in a bar starting at midnight. ``period_s == DAY_S`` is the trading day, whatever the anchor.
    Examples (NSE, anchor 09:15): 09:14:59 -> 09:10 for 5m, 08:15 for 1h; 09:15:00 -> 09:15; 15:30:00 -> 15:30
    for 5m and 15m, 15:15 for 1h.
    """
    _check_period(period_s)
    day = ts - ts % DAY_S
    if period_s == DAY_S:
        return day
    offset = anchor_s % period_s
    return max(day, ts - (ts - offset) % period_s)


class DuplicateTrade(ValueError):
    """The same trade (instrument, day, cumulative volume) was given to one candle twice."""


class Trade(NamedTuple):
    """One trade as a candle needs it (a ``dhan_ticks`` row / tick event). ``price4``: price x 10**4."""

    exchange_ts: int
    cum_volume: int
    price4: int
    qty: int
    side: str = ""  # "B", "S" or ""
    oi: int | None = None


def trade_from_event(event: Mapping[str, Any]) -> Trade:
    """A tick event (``shared.events``) as a :class:`Trade`; the price rounded to ten-thousandths as the
    writer does (``round(ltp * 10_000)``)."""
    side = event.get("side") or ""
    if side not in SIDE_CODES:
        raise ValueError(f"bad side {side!r}")
    return Trade(int(event["exchange_ts"]), int(event["volume"]), round(event["ltp"] * PRICE_SCALE),
                 int(event["qty"]), side, event.get("oi"))


@dataclass(slots=True)
class Candle:
    """OHLC, volumes and sequence bounds of some trades of one bar (see the module docstring for the rules).

    ``start_ts`` is the bar's start (Dhan epoch). Prices are ten-thousandths (``open4`` ...); the float
    properties ``open`` ... ``vwap`` are for display.
    """

    start_ts: int
    open4: int
    high4: int
    low4: int
    close4: int
    volume: int
    buy_volume: int
    sell_volume: int
    trade_count: int
    oi: int | None
    turnover4: int  # the VWAP numerator, sum(price4 * qty)
    base_cum_volume: int  # cumulative volume just before the first trade: its cum_volume - qty, at least 0
    first_cum_volume: int
    last_cum_volume: int

    @classmethod
    def of_trade(cls, trade: Trade, start_ts: int | None = None) -> Candle:
        """The one-trade candle of ``trade``; its bar is the trade's minute unless ``start_ts`` is given."""
        ts, cum, px, qty, side, oi = trade
        return cls(minute_start(ts) if start_ts is None else start_ts, px, px, px, px, qty,
                   qty if side == "B" else 0, qty if side == "S" else 0, 1, oi, px * qty, max(cum - qty, 0), cum,
                   cum)

    def add(self, trade: Trade) -> None:
        """Add one trade of this bar, O(1). Raises :class:`DuplicateTrade` for a repeat of the first or last
        trade (the only repeat a constant-time check can see; :attr:`unseen_volume` sees the rest)."""
        _, cum, px, qty, side, oi = trade
        if cum == self.first_cum_volume or cum == self.last_cum_volume:
            raise DuplicateTrade(f"trade at cumulative volume {cum} is already in the candle at {self.start_ts}")
        if cum < self.first_cum_volume:
            self.open4, self.first_cum_volume, self.base_cum_volume = px, cum, max(cum - qty, 0)
        if cum > self.last_cum_volume:
            self.close4, self.last_cum_volume, self.oi = px, cum, oi
        if px > self.high4:
            self.high4 = px
        if px < self.low4:
            self.low4 = px
        self.volume += qty
        if side == "B":
            self.buy_volume += qty
        elif side == "S":
            self.sell_volume += qty
        self.trade_count += 1
        self.turnover4 += px * qty

    def merge(self, other: Candle) -> None:
        """Combine ``other`` (trades of the same bar, none of them in this one) into this candle, in place.

        Associative and commutative. A first or last cumulative volume of one equal to a first or last of the
        other is a shared trade: :class:`DuplicateTrade`.
        """
        if {other.first_cum_volume, other.last_cum_volume} & {self.first_cum_volume, self.last_cum_volume}:
            raise DuplicateTrade(f"candles at {self.start_ts} share a trade (cumulative volume bounds "
                                 f"{self.first_cum_volume}..{self.last_cum_volume} and "
                                 f"{other.first_cum_volume}..{other.last_cum_volume})")
        if other.first_cum_volume < self.first_cum_volume:
            self.open4, self.first_cum_volume = other.open4, other.first_cum_volume
            self.base_cum_volume = other.base_cum_volume
        if other.last_cum_volume > self.last_cum_volume:
            self.close4, self.last_cum_volume, self.oi = other.close4, other.last_cum_volume, other.oi
        self.high4 = max(self.high4, other.high4)
        self.low4 = min(self.low4, other.low4)
        self.volume += other.volume
        self.buy_volume += other.buy_volume
        self.sell_volume += other.sell_volume
        self.trade_count += other.trade_count
        self.turnover4 += other.turnover4

    def copy(self, start_ts: int | None = None) -> Candle:
        return replace(self) if start_ts is None else replace(self, start_ts=start_ts)

    @property
    def trade_date(self) -> date:
        return trade_date(self.start_ts)

    @property
    def vwap_den(self) -> int:
        """The VWAP denominator: the volume."""
        return self.volume

    @property
    def unseen_volume(self) -> int:
        """Volume of the bar's trade chain not in the candle: 0 complete, > 0 missing, < 0 double-counted."""
        return self.last_cum_volume - self.base_cum_volume - self.volume

    @property
    def open(self) -> float:
        return self.open4 / PRICE_SCALE

    @property
    def high(self) -> float:
        return self.high4 / PRICE_SCALE

    @property
    def low(self) -> float:
        return self.low4 / PRICE_SCALE

    @property
    def close(self) -> float:
        return self.close4 / PRICE_SCALE

    @property
    def vwap(self) -> float | None:
        return self.turnover4 / self.volume / PRICE_SCALE if self.volume else None


def fold_candles(trades: Iterable[tuple[_K, Trade]]) -> dict[tuple[_K, int], Candle]:
    """Per-minute partial aggregates of ``(instrument, trade)`` pairs, keyed ``(instrument, minute start)``.

    The writer calls it on the ticks its transaction inserted and upserts the result (one row per key) with
    ``CANDLE_UPSERT``; any order of trades and batches gives the same rows. The same trade twice in
    ``trades`` raises :class:`DuplicateTrade` (a trade is ``(instrument, trading day, cum_volume)``).
    """
    out: dict[tuple[_K, int], Candle] = {}
    seen: set[tuple[_K, int, int]] = set()
    for key, trade in trades:
        ts, cum = trade[0], trade[1]
        natural = (key, ts // DAY_S, cum)
        if natural in seen:
            raise DuplicateTrade(f"trade {key!r} at cumulative volume {cum} given twice")
        seen.add(natural)
        minute = ts - ts % MINUTE_S
        candle = out.get((key, minute))
        if candle is None:
            out[(key, minute)] = Candle.of_trade(trade, minute)
        else:
            candle.add(trade)
    return out


def resample(candles: Iterable[Candle], period_s: int, anchor_s: int) -> list[Candle]:
    """Bars of ``period_s`` (:data:`TIMEFRAMES_S`) from one instrument's 1-minute candles, oldest first.

    Each 1-minute candle goes to the bar :func:`bucket_start` gives for its start (anchor: the segment's
    :func:`session_open_s`), and a bar is the :meth:`Candle.merge` of its minutes, so open/close follow the
    cumulative volume exactly as within a minute. Bars exist only where minutes exist (no empty bars for a
    gap); ``period_s == DAY_S`` gives one bar per trading day. The input is not modified.
    """
    _check_period(period_s)
    bars: dict[int, Candle] = {}
    for candle in candles:
        start = bucket_start(candle.start_ts, period_s, anchor_s)
        bar = bars.get(start)
        if bar is None:
            bars[start] = candle.copy(start)
        else:
            bar.merge(candle)
    return [bars[k] for k in sorted(bars)]


class LiveCandles:
    """Bars of one instrument built one trade at a time, O(1) each (a chart's live model; any period).

    A trade goes straight into its bar (:func:`bucket_start`), which gives the same bars as resampling the
    1-minute candles (tests/shared/test_candles.py checks it). History comes first through :meth:`seed`
    (bars of the same period, e.g. from ``RESAMPLE_QUERY``). Within a trading day cumulative volume rises
    with every trade, so a trade at or below the day's highest cumulative volume seen is one already counted
    (a redelivery, or a tick the history held): it is skipped and counted in ``repeats``.
    """

    __slots__ = ("_bars", "_in_order", "_last_cum", "anchor_s", "period_s", "repeats")

    def __init__(self, period_s: int = MINUTE_S, anchor_s: int = 0) -> None:
        _check_period(period_s)
        self.period_s, self.anchor_s = period_s, anchor_s
        self._bars: dict[int, Candle] = {}
        self._last_cum: dict[int, int] = {}  # trading day -> highest cumulative volume in the bars
        self._in_order = True
        self.repeats = 0

    def seed(self, bars: Iterable[Candle]) -> None:
        """Load history bars (of this period and grid); later trades continue them."""
        for bar in bars:
            self._put(bar.copy())

    def _put(self, bar: Candle) -> None:
        start = bar.start_ts
        if self._bars and start < next(reversed(self._bars)):
            self._in_order = False
        old = self._bars.get(start)
        if old is None:
            self._bars[start] = bar
        else:
            old.merge(bar)
        day = start // DAY_S
        self._last_cum[day] = max(self._last_cum.get(day, -1), bar.last_cum_volume)

    def add(self, trade: Trade) -> Candle | None:
        """Add one trade; returns its bar (updated), or None for a repeat."""
        day = trade.exchange_ts // DAY_S
        if trade.cum_volume <= self._last_cum.get(day, -1):
            self.repeats += 1
            return None
        start = bucket_start(trade.exchange_ts, self.period_s, self.anchor_s)
        bar = self._bars.get(start)
        if bar is None:
            self._put(Candle.of_trade(trade, start))
            return self._bars[start]
        bar.add(trade)
        self._last_cum[day] = trade.cum_volume
        return bar

    def bars(self) -> list[Candle]:
        """The bars, oldest first (the objects themselves: read, do not modify)."""
        if not self._in_order:
            self._bars = dict(sorted(self._bars.items()))
            self._in_order = True
        return list(self._bars.values())
