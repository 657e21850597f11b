"""One-minute candles and their resampling (shared.candles, shared.candle_arrays), against cases worked by hand.

Times are Dhan's epoch (IST wall time counted as UTC): ``at(9, 15)`` is 09:15:00 IST on Monday 2026-03-02.
Prices in the expected values are written in rupees and converted with ``p4`` (x 10**4) so the arithmetic in
the comments reads in rupees.
"""

from __future__ import annotations

import itertools
import random
from datetime import date

import numpy as np
import pytest

from shared.candle_arrays import candles_from_arrays, side_codes
from shared.candles import (
    DAY_S,
    Candle,
    DuplicateTrade,
    LiveCandles,
    Trade,
    bucket_start,
    fold_candles,
    minute_start,
    resample,
    session_open_s,
    trade_date,
    trade_from_event,
)

DAY0 = (date(2026, 3, 2) - date(1970, 1, 1)).days * DAY_S
NSE = session_open_s("NSE_FNO")
MCX = session_open_s("MCX_COMM")


def at(hh: int, mm: int, ss: int = 0, day: int = 0) -> int:
    return DAY0 + day * DAY_S + hh * 3600 + mm * 60 + ss


def p4(rupees: float) -> int:
    return round(rupees * 10_000)


# Four trades of minute 09:15, the day's volume 1000 before them:
#   cum 1010  100.00 x 10  B   (09:15:00, the boundary second belongs to 09:15)
#   cum 1015  100.50 x  5  S
#   cum 1035   99.75 x 20  ""  (same exchange second as the one before: cum volume orders them)
#   cum 1036  100.25 x  1  B   oi 5000 (09:15:59)
T1 = Trade(at(9, 15, 0), 1010, p4(100.00), 10, "B", 4990)
T2 = Trade(at(9, 15, 7), 1015, p4(100.50), 5, "S", 4995)
T3 = Trade(at(9, 15, 7), 1035, p4(99.75), 20, "", None)
T4 = Trade(at(9, 15, 59), 1036, p4(100.25), 1, "B", 5000)
# open 100.00 (cum 1010), high 100.50, low 99.75, close 100.25 (cum 1036), oi 5000 (the closing trade's);
# volume 10+5+20+1 = 36, buy 10+1 = 11, sell 5, 4 trades;
# turnover 100*10 + 100.5*5 + 99.75*20 + 100.25*1 = 1000 + 502.5 + 1995 + 100.25 = 3597.75, vwap 3597.75/36
# = 99.9375; base 1010-10 = 1000; unseen 1036 - 1000 - 36 = 0.
MINUTE_915 = Candle(at(9, 15), p4(100.0), p4(100.5), p4(99.75), p4(100.25), 36, 11, 5, 4, 5000, p4(3597.75),
                    1000, 1010, 1036)


def fold(trades: list[Trade]) -> Candle:
    (candle,) = fold_candles([("X", t) for t in trades]).values()
    return candle


def test_minute_candle_of_four_trades_worked_by_hand() -> None:
    c = fold([T1, T2, T3, T4])
    assert c == MINUTE_915
    assert (c.open, c.high, c.low, c.close) == (100.0, 100.5, 99.75, 100.25)
    assert c.vwap == pytest.approx(99.9375, abs=1e-12)
    assert c.vwap_den == 36
    assert c.unseen_volume == 0
    assert c.trade_date == date(2026, 3, 2)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_order_of_trades_gives_the_same_candle(order: tuple[int, ...]) -> None:
    trades = [T1, T2, T3, T4]
    assert fold([trades[i] for i in order]) == MINUTE_915


def test_partial_aggregates_merge_in_any_grouping_and_order() -> None:
    trades = [T1, T2, T3, T4]
    # every split of the four trades into two non-empty parts, merged both ways round
    for mask in range(1, 15):
        a = [t for i, t in enumerate(trades) if mask >> i & 1]
        b = [t for i, t in enumerate(trades) if not mask >> i & 1]
        for x, y in ((a, b), (b, a)):
            left = fold(x)
            left.merge(fold(y))
            assert left == MINUTE_915, (x, y)
    # ((T3 + T1) + T4) + T2 == T3 + (T1 + (T4 + T2))
    left = fold([T3])
    for t in (T1, T4, T2):
        left.merge(fold([t]))
    inner = fold([T4])
    inner.merge(fold([T2]))
    mid = fold([T1])
    mid.merge(inner)
    right = fold([T3])
    right.merge(mid)
    assert left == right == MINUTE_915


def test_single_trade_candle() -> None:
    # one trade: open = high = low = close = 100.00, volume 10 (all buy), turnover 1000, base 1000
    assert fold([T1]) == Candle(at(9, 15), p4(100), p4(100), p4(100), p4(100), 10, 10, 0, 1, 4990, p4(1000),
                                1000, 1010, 1010)


def test_empty_input() -> None:
    assert fold_candles([]) == {}
    assert resample([], 300, NSE) == []
    assert candles_from_arrays([], [], [], [], []) == []


def test_the_same_trade_twice_is_refused() -> None:
    c = fold([T1, T2, T3])
    with pytest.raises(DuplicateTrade):
        c.add(T3)  # the last trade again
    with pytest.raises(DuplicateTrade):
        c.add(T1)  # the first again
    with pytest.raises(DuplicateTrade):
        fold_candles([("X", T2), ("X", T1), ("X", T2)])
    with pytest.raises(DuplicateTrade):  # parts sharing an end: {T1,T2} and {T2,T3} share cum 1015
        fold([T1, T2]).merge(fold([T2, T3]))
    # the same cum volume of another instrument or another day is another trade
    assert len(fold_candles([("X", T1), ("Y", T1), ("X", T1._replace(exchange_ts=T1.exchange_ts + DAY_S))])) == 3


def test_unseen_volume_shows_missing_and_double_counted_trades() -> None:
    # without T2 (5): volume 31, chain (1000, 1036] holds 36 -> 5 unseen
    assert fold([T1, T3, T4]).unseen_volume == 5
    # T2 merged again into the whole minute, past the end check (its cum 1015 is inside 1010..1036):
    # volume 36 + 5 = 41 > 36 -> -5
    whole = fold([T1, T2, T3, T4])
    whole.merge(fold([T2]))
    assert whole.unseen_volume == -5


def test_a_trade_claiming_more_than_its_cumulative_volume() -> None:
    # qty 50 at cum 30 (impossible from the feed): the base is 0, not -20 (the column is unsigned), and the
    # candle shows it: unseen 30 - 0 - 50 = -20
    bad = Trade(at(9, 15), 30, p4(10), 50)
    assert fold([bad]).base_cum_volume == 0
    assert fold([bad]).unseen_volume == -20
    assert candles_from_arrays([at(9, 15)], [30], [p4(10)], [50], [0])[0] == fold([bad])
    later = fold([Trade(at(9, 15, 5), 40, p4(10), 10)])
    later.add(bad)  # as the first trade of an existing candle
    assert later.base_cum_volume == 0


def test_minute_boundaries() -> None:
    # 09:14:59 is minute 09:14; 09:15:00 opens 09:15; 09:15:59 still 09:15; 09:16:00 is the next minute;
    # 15:30:00 is minute 15:30 (its own candle, not folded into 15:29)
    assert minute_start(at(9, 14, 59)) == at(9, 14)
    assert minute_start(at(9, 15, 0)) == minute_start(at(9, 15, 59)) == at(9, 15)
    assert minute_start(at(9, 16, 0)) == at(9, 16)
    closing = [Trade(at(15, 29, 59), 500, p4(10), 1), Trade(at(15, 30, 0), 501, p4(11), 1)]
    candles = fold_candles([("X", t) for t in closing])
    assert sorted(m for _, m in candles) == [at(15, 29), at(15, 30)]
    assert trade_date(at(23, 59, 59)) == date(2026, 3, 2)
    assert trade_date(at(0, 0, 0, day=1)) == date(2026, 3, 3)


def test_trade_from_event_rounds_like_the_writer() -> None:
    ev = {"ltp": 25013.05, "volume": 1010, "qty": 10, "exchange_ts": at(9, 15), "side": "B", "oi": 7}
    assert trade_from_event(ev) == Trade(at(9, 15), 1010, 250_130_500, 10, "B", 7)
    assert trade_from_event({**ev, "side": None, "oi": None}).side == ""
    with pytest.raises(ValueError, match="bad side"):
        trade_from_event({**ev, "side": "X"})


def minute(ts: int, o: float, h: float, lo: float, c: float, v: int, first: int, oi: int | None = None) -> Candle:
    """A hand-made 1-minute candle of ``v`` buy trades of 1 at cum volumes ``first .. first + v - 1`` (base
    ``first - 1``); its turnover is set to ``o * v``, a number the resample only adds."""
    return Candle(ts, p4(o), p4(h), p4(lo), p4(c), v, v, 0, v, oi, p4(o) * v, first - 1, first, first + v - 1)


def test_resample_five_minutes_worked_by_hand() -> None:
    rows = [
        minute(at(9, 15), 100.0, 101.0, 99.0, 100.5, 10, 1),  # cum 1..10
        minute(at(9, 16), 100.5, 102.0, 100.0, 101.0, 20, 11, oi=7),  # cum 11..30
        minute(at(9, 19), 101.0, 101.5, 98.5, 99.0, 5, 31, oi=8),  # cum 31..35
        minute(at(9, 25), 99.0, 99.5, 98.0, 98.0, 1, 36),  # after a gap: no 09:20 bar
    ]
    bars = resample(reversed(rows), 300, NSE)  # input order does not matter
    # 09:15 bar = minutes 09:15, 09:16, 09:19: open 100.0 (first minute), high max(101, 102, 101.5) = 102,
    # low min(99, 100, 98.5) = 98.5, close 99.0 (last minute), volume 10+20+5 = 35, oi 8 (last minute's),
    # 35 trades, turnover 100*10 + 100.5*20 + 101*5 = 1000 + 2010 + 505 = 3515, cum 1..35, base 0
    assert [b.start_ts for b in bars] == [at(9, 15), at(9, 25)]
    assert bars[0] == Candle(at(9, 15), p4(100), p4(102), p4(98.5), p4(99), 35, 35, 0, 35, 8, p4(3515), 0, 1, 35)
    assert bars[1] == rows[3]
    assert rows[0].start_ts == at(9, 15)  # the input is not modified


def test_resample_grid_at_the_session_open() -> None:
    # bar starts of single minutes, NSE (09:15) and MCX (09:00) grids
    cases = [
        (at(9, 14), 300, NSE, at(9, 10)),  # pre-open minute: the 5m grid through 09:15 has 09:10
        (at(9, 14), 3600, NSE, at(8, 15)),  # ... and the hourly grid 08:15
        (at(9, 15), 300, NSE, at(9, 15)),  # the open is a bar start
        (at(10, 14), 3600, NSE, at(9, 15)),  # first hour 09:15-10:15
        (at(10, 15), 3600, NSE, at(10, 15)),
        (at(15, 29), 900, NSE, at(15, 15)),
        (at(15, 30), 300, NSE, at(15, 30)),  # the 15:30:00 trade's minute: its own 5m and 15m bar
        (at(15, 30), 900, NSE, at(15, 30)),
        (at(15, 30), 3600, NSE, at(15, 15)),  # ... and in the last hourly bar
        (at(9, 0), 3600, MCX, at(9, 0)),
        (at(23, 29), 3600, MCX, at(23, 0)),  # MCX evening
        (at(23, 54), 900, MCX, at(23, 45)),  # US winter close 23:55
        (at(0, 5), 3600, NSE, at(0, 0)),  # before the day's first grid point: from midnight, not the day before
        (at(23, 54), DAY_S, MCX, at(0, 0)),  # the day bar is the trading day
        (at(9, 14), DAY_S, NSE, at(0, 0)),
    ]
    for ts, period, anchor, expected in cases:
        assert bucket_start(ts, period, anchor) == expected, (ts - DAY0, period, anchor)
    assert bucket_start(at(9, 15), 60, NSE) == at(9, 15)


def test_resample_day_bars_are_trading_days() -> None:
    rows = [
        minute(at(9, 0), 10.0, 11.0, 9.0, 10.0, 3, 1),
        minute(at(23, 29), 10.0, 12.0, 10.0, 12.0, 2, 4),  # MCX evening, same trading day
        minute(at(9, 0, day=1), 20.0, 20.0, 20.0, 20.0, 1, 1),  # next day: cum volume starts again
    ]
    bars = resample(rows, DAY_S, MCX)
    # day 1: open 10 (09:00), high 12, low 9, close 12 (23:29), volume 5; day 2 alone
    assert [b.start_ts for b in bars] == [at(0, 0), at(0, 0, day=1)]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (10, 12, 9, 12, 5)
    assert bars[1] == rows[2].copy(at(0, 0, day=1))


def test_bad_periods_and_segments() -> None:
    for period in (0, -300, 90, 420 * 60 + 60):  # not whole minutes, or not dividing a day
        with pytest.raises(ValueError, match="bar period"):
            resample([], period, NSE)
    with pytest.raises(ValueError, match="segment"):
        session_open_s("NOPE")


def _random_trades(seed: int, n: int) -> list[tuple[str, Trade]]:
    rng = random.Random(seed)
    out = []
    for day in range(2):
        cum = rng.randint(0, 1000)
        ts = at(9, 13, day=day)
        for _ in range(n):
            ts += rng.choice((0, 0, 1, 7, 61))
            qty = rng.randint(1, 50)
            cum += qty
            out.append(("X", Trade(ts, cum, p4(100 + rng.randint(-40, 40) * 0.05), qty, rng.choice("BS "),
                                   rng.choice((None, rng.randint(0, 10**6))))))
    return [(k, t._replace(side=t.side.strip())) for k, t in out]


@pytest.mark.parametrize("seed", range(5))
def test_arrays_equal_the_one_by_one_fold(seed: int) -> None:
    trades = _random_trades(seed, 400)
    expected = sorted(fold_candles(trades).values(), key=lambda c: c.start_ts)
    cols = list(zip(*(t for _, t in trades), strict=True))
    oi = [-1 if x is None else x for x in cols[5]]
    assert candles_from_arrays(cols[0], cols[1], cols[2], cols[3], side_codes(cols[4]), oi) == expected
    shuffled = trades[:]
    random.Random(seed).shuffle(shuffled)
    cols = list(zip(*(t for _, t in shuffled), strict=True))
    oi = [-1 if x is None else x for x in cols[5]]
    assert candles_from_arrays(cols[0], cols[1], cols[2], cols[3], side_codes(cols[4]), oi) == expected
    # and bars resampled from the minutes equal bars folded from the trades directly
    for period in (300, 900, 3600, DAY_S):
        direct: dict[int, Candle] = {}
        for _, t in trades:
            start = bucket_start(t.exchange_ts, period, NSE)
            if start in direct:
                direct[start].add(t)
            else:
                direct[start] = Candle.of_trade(t, start)
        assert resample(expected, period, NSE) == [direct[k] for k in sorted(direct)]


def test_arrays_refuse_a_repeated_trade() -> None:
    ts = [at(9, 15), at(9, 16), at(9, 17)]
    with pytest.raises(DuplicateTrade):  # cum 2 twice on one day, in two different minutes
        candles_from_arrays(ts, [1, 2, 2], [p4(1)] * 3, [1, 1, 1], [0, 0, 0])
    # the same cum volume on two days is two trades
    assert len(candles_from_arrays([at(9, 15), at(9, 15, day=1)], [5, 5], [p4(1)] * 2, [1, 1], [0, 0])) == 2


def test_arrays_turnover_is_exact_beyond_int64() -> None:
    # two trades at 999,999,999.9999 rupees x 4,294,967,295 (the largest qty): each turnover4 is
    # (10**13 - 1) * 4,294,967,295 = 42,949,672,950,000,000,000,000 - 4,294,967,295
    #                              = 42,949,672,949,995,705,032,705, beyond int64 (9.2e18)
    px, qty = 9_999_999_999_999, 4_294_967_295
    (c,) = candles_from_arrays([at(9, 15), at(9, 15, 1)], [qty, 2 * qty], [px, px], [qty, qty], [1, 2])
    assert c.turnover4 == 2 * 42_949_672_949_995_705_032_705
    assert (c.volume, c.buy_volume, c.sell_volume) == (2 * qty, qty, qty)


def test_side_codes() -> None:
    assert side_codes(["B", "S", "", "B"]).tolist() == [1, 2, 0, 1]
    assert side_codes(np.array([], dtype="U1")).tolist() == []


def test_live_candles_one_trade_at_a_time() -> None:
    live = LiveCandles()
    for t in (T1, T2, T3, T4):
        bar = live.add(t)
    assert bar == MINUTE_915
    assert live.add(T2) is None  # redelivered: cum 1015 <= 1036 already seen today
    assert live.repeats == 1
    assert live.bars() == [MINUTE_915]
    # the next day's volume starts again from 0: not a repeat
    next_day = live.add(Trade(at(9, 15, day=1), 5, p4(101), 5, "B"))
    assert next_day is not None and next_day.start_ts == at(9, 15, day=1)
    assert [b.start_ts for b in live.bars()] == [at(9, 15), at(9, 15, day=1)]


@pytest.mark.parametrize("period", [60, 300, 3600, DAY_S])
def test_live_candles_continue_history_and_skip_the_overlap(period: int) -> None:
    trades = [t for _, t in _random_trades(8, 300)]
    minutes = sorted(fold_candles([("X", t) for t in trades]).values(), key=lambda c: c.start_ts)
    expected = resample(minutes, period, NSE)
    cut = 250  # history holds trades[:cut]; the live stream starts 20 trades earlier (the seam's overlap)
    history = resample(fold_candles([("X", t) for t in trades[:cut]]).values(), period, NSE)
    live = LiveCandles(period, NSE)
    live.seed(history)
    for t in trades[cut - 20 :]:
        live.add(t)
    assert live.bars() == expected
    assert live.repeats == 20
    assert history == resample(fold_candles([("X", t) for t in trades[:cut]]).values(), period, NSE)  # not modified
