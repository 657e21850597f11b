"""The simulator's market model without a network: smile, prices, invariants of every update, determinism."""

from __future__ import annotations

import math
import struct
from datetime import datetime
from typing import Any

import pytest

from feed.greeks.black76 import price as black76_price
from feed.greeks.black76 import year_fraction
from feed.protocol.decode import Decoder, Packet, packet_as_dict
from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_INDEX, KIND_OPTION, SimInstrument
from feed.sim.market import Market
from feed.sim.model import TRADING_SECONDS_PER_YEAR, Factors, burst_factor, smile_iv
from shared.clock import IST, to_dhan_epoch
from tests.conftest import make_settings

T0 = datetime(2026, 7, 15, 10, 0, tzinfo=IST).timestamp()  # a Wednesday, market open


class Sink:
    def __init__(self) -> None:
        self.out: list[bytes] = []


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def on_grid(wire_price: float, tick: float) -> bool:
    """The float32 on the wire is exactly the float32 of a multiple of ``tick``."""
    return f32(round(wire_price / tick) * tick) == wire_price


def market(seed: int = 7, **overrides: Any) -> Market:
    return Market(make_settings(sim_burst_factor=0.0, **overrides), T0, seed=seed)


def by_kind(m: Market, kind: int) -> list[SimInstrument]:
    return [i for i in m.instruments.values() if i.kind == kind]


def run(m: Market, sink: Sink, steps: int, updates: int, step_s: float = 0.5) -> list[Packet]:
    t = m.now
    for _ in range(steps):
        t += step_s
        m.advance(t)
        m.generate(updates)
    decoder = Decoder()
    packets = [p for frame in sink.out for p in decoder.decode(frame)]
    assert decoder.stats.bad == 0
    return packets


# --- smile ---
def test_smile_atm_levels_skew_and_wings() -> None:
    f, t = 26_000.0, 7 / 365
    assert smile_iv("NIFTY", f, f, t) == pytest.approx(0.13)
    assert smile_iv("BANKNIFTY", 59_300.0, 59_300.0, t) == pytest.approx(0.15)
    puts = [smile_iv("NIFTY", k, f, t) for k in (24_000, 24_500, 25_000, 25_500)]
    assert puts == sorted(puts, reverse=True), "put skew: lower strikes carry higher vol"
    assert smile_iv("NIFTY", 25_000, f, t) > smile_iv("NIFTY", 27_000, f, t) > smile_iv("NIFTY", f, f, t)
    assert smile_iv("NIFTY", 30_000, f, t) > smile_iv("NIFTY", 27_000, f, t), "call wing turns up"
    assert all(0.05 <= smile_iv("NIFTY", k, f, t) <= 1.5 for k in range(5_000, 60_000, 500))


def _bisect_iv(premium: float, f: float, k: float, t: float, r: float, is_call: bool) -> float:
    lo, hi = 1e-4, 3.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if black76_price(f, k, t, r, mid, is_call) < premium:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("underlying,f,step", [("NIFTY", 26_046.95, 50.0), ("BANKNIFTY", 59_300.0, 100.0)])
@pytest.mark.parametrize("days", [2, 7, 30])
def test_iv_round_trip_recovers_the_smile(underlying: str, f: float, step: float, days: int) -> None:
    t, r = days / 365, 0.065
    for i in range(-10, 11):
        k = round(f / step) * step + i * step
        is_call = k >= f  # out of the money: where quotes carry the volatility
        sigma = smile_iv(underlying, k, f, t)
        premium = black76_price(f, k, t, r, sigma, is_call)
        assert _bisect_iv(premium, f, k, t, r, is_call) == pytest.approx(sigma, abs=1e-6)


def test_option_model_price_is_black76_on_the_near_future_with_the_smile() -> None:
    m = market()
    m.advance(T0 + 30)
    nifty_futures = [i for i in by_kind(m, KIND_FUTURE) if i.underlying == "NIFTY"]
    futures = sorted(nifty_futures, key=lambda i: i.contract.expiry)
    near = futures[0]
    spot = m.factors.levels["NIFTY"]
    t_near = year_fraction(near.contract.expiry, m.now)
    assert m.fnear["NIFTY"] == pytest.approx(spot * math.exp(0.065 * t_near))
    assert m.mid(near, m.now) == pytest.approx(m.fnear["NIFTY"])
    options = [i for i in by_kind(m, KIND_OPTION) if i.underlying == "NIFTY"]
    for opt in options[::97]:
        t = year_fraction(opt.contract.expiry, m.now)
        f = m.fnear["NIFTY"]
        premium = m.mid(opt, m.now)
        sigma = smile_iv("NIFTY", opt.strike, f, t)
        assert premium == pytest.approx(black76_price(f, opt.strike, t, 0.065, sigma, opt.is_call))
        if premium > 5.0:  # enough premium to carry the volatility back
            assert _bisect_iv(premium, f, opt.strike, t, 0.065, opt.is_call) == pytest.approx(
                smile_iv("NIFTY", opt.strike, f, t), abs=1e-4)


# --- price processes ---
def test_index_walk_has_intraday_volatility_near_13_percent() -> None:
    import random

    factors = Factors(random.Random(3), {"NIFTY": 26_000.0, "BANKNIFTY": 59_000.0}, 0.0)
    returns, bank_returns = [], []
    last, last_bank = factors.log_level("NIFTY"), factors.log_level("BANKNIFTY")
    for second in range(1, 20_001):
        factors.advance(float(second))
        returns.append(factors.log_level("NIFTY") - last)
        bank_returns.append(factors.log_level("BANKNIFTY") - last_bank)
        last, last_bank = factors.log_level("NIFTY"), factors.log_level("BANKNIFTY")
    sd = math.sqrt(sum(x * x for x in returns) / len(returns))
    annual = sd * math.sqrt(TRADING_SECONDS_PER_YEAR)
    assert 0.12 <= annual <= 0.14
    cov = sum(a * b for a, b in zip(returns, bank_returns, strict=True))
    corr = cov / math.sqrt(sum(a * a for a in returns) * sum(b * b for b in bank_returns))
    assert 0.65 <= corr <= 0.85


def test_stocks_move_with_their_index() -> None:
    m = market()
    stocks = [i for i in by_kind(m, KIND_EQUITY) if i.factor == "NIFTY"][:10]
    idx, xs, ys = m.factors, [], []
    last_idx = idx.log_level("NIFTY")
    last_px = [m.mid(s, m.now) for s in stocks]
    t = m.now
    for _ in range(3000):
        t += 5.0
        m.advance(t)
        px = [m.mid(s, t) for s in stocks]
        xs.append(idx.log_level("NIFTY") - last_idx)
        ys.append(sum(math.log(p / q) for p, q in zip(px, last_px, strict=True)) / len(stocks))
        last_idx, last_px = idx.log_level("NIFTY"), px
    cov = sum(a * b for a, b in zip(xs, ys, strict=True))
    corr = cov / math.sqrt(sum(a * a for a in xs) * sum(b * b for b in ys))
    assert corr > 0.5


def test_burst_factor_peaks_at_open_and_close_only() -> None:
    def at(h: int, m: int) -> float:
        return burst_factor(datetime(2026, 7, 15, h, m, tzinfo=IST).timestamp(), 2.0)

    assert at(9, 15) == pytest.approx(3.0, abs=0.1)
    assert at(15, 30) == pytest.approx(2.4, abs=0.1)
    assert at(12, 0) == pytest.approx(1.0, abs=0.01)
    assert at(20, 0) == 1.0
    assert burst_factor(datetime(2026, 7, 15, 9, 15, tzinfo=IST).timestamp(), 0.0) == 1.0


# --- packets from the generator ---
def test_every_update_keeps_the_market_consistent() -> None:
    m = market()
    sink = Sink()
    lots = {}
    for inst in m.instruments.values():
        m.subscribe(inst, sink, 2)
        lots[inst.key] = (inst.lot, inst.tick, inst.kind)
    packets = run(m, sink, steps=40, updates=500)
    volume: dict[tuple[int, int], int] = {}
    oi_seen = 0
    for p in packets:
        d = packet_as_dict(p)
        lot, tick, kind = lots[(d["segment"], d["security_id"])]
        if kind == KIND_INDEX:
            assert d["code"] == 2
            assert on_grid(d["ltp"], 0.05)
            continue
        assert d["code"] == 8
        key = (d["segment"], d["security_id"])
        assert d["volume"] >= volume.get(key, 0), "cumulative volume never decreases"
        volume[key] = d["volume"]
        assert on_grid(d["ltp"], tick) and d["ltp"] >= tick
        assert d["ltq"] % lot == 0 and d["ltq"] > 0
        assert d["low"] <= d["open"] <= d["high"] and d["low"] <= d["ltp"] <= d["high"]
        assert d["low"] <= d["atp"] <= d["high"]
        assert d["oi_low"] <= d["oi"] <= d["oi_high"]
        oi_seen += d["oi"] > 0
        assert d["ltt"] <= to_dhan_epoch(m.now)
        bid, ask = d["bid_price1"], d["ask_price1"]
        assert bid < ask
        for lvl in range(1, 5):
            assert d[f"ask_price{lvl + 1}"] - d[f"ask_price{lvl}"] == pytest.approx(tick, rel=1e-3, abs=0.01)
            assert d[f"bid_price{lvl + 1}"] <= d[f"bid_price{lvl}"]
            if d[f"bid_price{lvl}"] > 0:
                assert d[f"bid_qty{lvl}"] > 0 and d[f"bid_orders{lvl}"] > 0
        assert d["total_buy_qty"] > 0 and d["total_sell_qty"] > 0
    assert oi_seen > 0 and len(volume) > 500


def test_modes_produce_ticker_quote_oi_packets() -> None:
    m = market()
    ticker, quote = Sink(), Sink()
    fut = next(i for i in by_kind(m, KIND_FUTURE) if i.underlying == "NIFTY")
    stock = by_kind(m, KIND_EQUITY)[0]
    index = by_kind(m, KIND_INDEX)[0]
    for inst in (fut, stock, index):
        m.subscribe(inst, ticker, 0)
        m.subscribe(inst, quote, 1)
    tp, qp = run(m, ticker, 20, 50), run(m, quote, 0, 0)
    assert {p[0] for p in tp} == {2}
    assert {p[0] for p in qp} == {2, 4, 5}
    assert {p[3] for p in qp if p[0] == 5} == {fut.security_id}, "OI packets only for derivatives"
    assert {p[3] for p in qp if p[0] == 2} == {index.security_id}, "index values travel as ticker packets"


def test_same_seed_same_bytes_and_another_seed_differs() -> None:
    def stream(seed: int) -> list[bytes]:
        m = market(seed)
        sink = Sink()
        for inst in list(m.instruments.values())[::7]:
            m.subscribe(inst, sink, 2)
        run(m, sink, 10, 200)
        return sink.out

    a, b, c = stream(11), stream(11), stream(12)
    assert len(a) > 1000 and a == b
    assert a != c


def test_unsubscribed_instruments_stay_quiet_and_day_rolls_at_midnight() -> None:
    m = market()
    sink = Sink()
    a, b = by_kind(m, KIND_EQUITY)[:2]
    m.subscribe(a, sink, 1)
    m.subscribe(b, sink, 1)
    m.unsubscribe(a, sink)
    packets = run(m, sink, 5, 50)
    assert {p[3] for p in packets} == {b.security_id}
    volume_before, ltp_before = b.volume, b.ltp
    assert volume_before > 0
    midnight = datetime(2026, 7, 16, 0, 0, 1, tzinfo=IST).timestamp()
    m.advance(midnight)
    assert b.close == ltp_before and b.volume < volume_before and b.open == b.high == b.low == b.ltp
    assert f32(b.close) == f32(ltp_before)


def test_expired_contracts_stop_trading() -> None:
    expiry_day = datetime(2026, 7, 21, 15, 0, tzinfo=IST).timestamp()  # a NIFTY weekly expiry, 30 min to go
    m = Market(make_settings(sim_burst_factor=0.0), expiry_day, seed=1)
    sink = Sink()
    expiring = sorted((i for i in by_kind(m, KIND_OPTION) if i.contract.expiry.isoformat() == "2026-07-21"),
                      key=lambda i: abs(i.strike - m.fnear["NIFTY"]))[:4]
    later = next(i for i in by_kind(m, KIND_FUTURE) if i.underlying == "NIFTY")
    for inst in (*expiring, later):
        m.subscribe(inst, sink, 1)
    before = {p[3] for p in run(m, sink, 6, 100)}
    assert before >= {i.security_id for i in expiring}
    sink.out.clear()
    m.advance(datetime(2026, 7, 21, 15, 30, tzinfo=IST).timestamp())
    after = {p[3] for p in run(m, sink, 4, 50)}
    assert after == {later.security_id}
    for inst in expiring:
        m.unsubscribe(inst, sink)
    m.unsubscribe(later, sink)
    m.subscribe(expiring[0], sink, 1)
    sink.out.clear()
    m.advance(m.now + 2.0)
    assert m.generate(50) == 0 and sink.out == []
