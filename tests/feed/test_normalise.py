"""Normaliser: merged quote state, trades from cumulative volume, depth, tick rounding."""

from __future__ import annotations

import orjson
import pytest

from feed.normalise import Normaliser, price_rounder
from feed.prices import BadValue
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_depth_v1, pack_full, pack_oi, pack_prev_close, pack_quote, pack_ticker

RECV0 = 1795578300.0  # receive time of the first frame: 09:15 IST, the LTT below (Dhan's epoch) as true epoch
LTT = 1795598100
DEPTH = tuple((100 + i, 200 + i, 3, 4, 100.0 - 0.05 * i, 100.05 + 0.05 * i) for i in range(5))


def full(vol: int, ltp: float, *, sid: int = 7, ltt: int = LTT, depth=DEPTH) -> bytes:
    return pack_full(2, sid, ltp=ltp, ltq=75, ltt=ltt, atp=100.0, volume=vol, total_sell_qty=10,
                     total_buy_qty=20, oi=1000, oi_high=1100, oi_low=900, open=99.0, close=98.0, high=101.0,
                     low=97.0, depth=depth)


def run(frames: list[bytes], norm: Normaliser | None = None) -> tuple[list, list, list]:
    norm = norm or Normaliser({(2, 7): 0.05})
    dec = Decoder()
    q: list[bytes] = []
    t: list[bytes] = []
    d: list[bytes] = []
    for i, f in enumerate(frames):
        norm.process(dec.decode(f), RECV0 + i, q, t, d)
    return [orjson.loads(x) for x in q], [orjson.loads(x) for x in t], [orjson.loads(x) for x in d]


def test_rounder_snaps_float32_noise_to_tick() -> None:
    r = price_rounder(0.05)
    assert r(25000.05078125) == 25000.05
    assert r(24999.974) == 24999.95
    assert price_rounder(0.0025)(83.25250244) == 83.2525
    assert price_rounder(1.0)(72345.6) == 72346.0


def test_trades_only_when_cumulative_volume_rises() -> None:
    quotes, ticks, depth = run([full(1000, 100.05), full(1000, 100.05), full(1150, 100.10), full(1225, 99.95)])
    assert len(quotes) == 4 and len(depth) == 4
    # first packet is the baseline; repeat without volume change is no trade
    assert [(t["qty"], t["volume"], t["ltp"]) for t in ticks] == [(150, 1150, 100.1), (75, 1225, 99.95)]
    # 100.10 >= previous ask 100.05 -> buyer; 99.95 <= previous bid 100.0 -> seller
    assert [t["side"] for t in ticks] == ["B", "S"]
    assert [t["rule"] for t in ticks] == ["q", "q"]  # both decided by the previous book's quote
    assert ticks[0]["exchange_ts"] == LTT and ticks[0]["recv_ts"] == RECV0 + 2


def test_rule_says_whether_the_quote_or_the_tick_rule_decided() -> None:
    wide = tuple((100, 200, 3, 4, 99.0 - 0.05 * i, 101.0 + 0.05 * i) for i in range(5))  # bid 99, ask 101
    _, ticks, _ = run([full(1000, 100.0, depth=wide), full(1100, 100.5, depth=wide),  # inside, uptick
                       full(1200, 100.5, depth=wide), full(1300, 100.25, depth=wide),  # zero tick, downtick
                       full(1400, 101.0, depth=wide), full(1500, 99.0, depth=wide)])  # at the ask, at the bid
    assert [(t["side"], t["rule"]) for t in ticks] == [("B", "t"), ("", ""), ("S", "t"), ("B", "q"), ("S", "q")]


def test_without_a_book_the_tick_rule_decides() -> None:
    _, ticks, _ = run([
        pack_quote(2, 7, ltp=100.0, ltq=75, ltt=LTT, atp=100.0, volume=75, total_sell_qty=1, total_buy_qty=2,
                   open=99.0, close=97.5, high=100.0, low=98.0),
        pack_quote(2, 7, ltp=100.5, ltq=75, ltt=LTT + 1, atp=100.0, volume=150, total_sell_qty=1, total_buy_qty=2,
                   open=99.0, close=97.5, high=100.5, low=98.0),
    ])
    assert [(t["side"], t["rule"], t["bid"]) for t in ticks] == [("B", "t", None)]


def test_quote_state_merges_prev_close_and_oi() -> None:
    quotes, _, _ = run([
        pack_prev_close(2, 7, 97.5, 800),
        pack_quote(2, 7, ltp=100.0, ltq=75, ltt=LTT + 5, atp=99.5, volume=75, total_sell_qty=1, total_buy_qty=2,
                   open=99.0, close=97.5, high=100.0, low=98.0),
        pack_oi(2, 7, 1234),
        pack_ticker(2, 7, 100.25, LTT + 6),
    ])
    last = quotes[-1]
    got = (last["prev_close"], last["prev_oi"], last["oi"], last["ltp"], last["volume"])
    assert got == (97.5, 800, 1234, 100.25, 75)
    assert last["exchange_ts"] == LTT + 6 and last["seg"] == "NSE_FNO" and last["sid"] == 7 and last["v"] == 1
    assert quotes[0]["ltp"] is None and quotes[0]["prev_close"] == 97.5


def test_depth_event_levels() -> None:
    _, _, depth = run([full(1, 100.0)])
    d = depth[0]
    assert d["bids"][0] == [100.0, 100, 3] and d["asks"][4] == [100.25, 204, 4]
    assert len(d["bids"]) == len(d["asks"]) == 5


def test_empty_book_sides_are_null() -> None:
    empty = ((0, 0, 0, 0, 0.0, 0.0),) * 5
    quotes, _, _ = run([full(1, 100.0, depth=empty)])
    assert quotes[0]["bid"] is None and quotes[0]["ask"] is None


def test_market_status_and_disconnect_recorded() -> None:
    from feed.protocol.encode import pack_disconnect, pack_market_status

    norm = Normaliser()
    q, _, _ = run([pack_market_status(), pack_disconnect(807)], norm)
    assert q == [] and norm.status_packets == 1 and norm.disconnect_reasons == [807]


# --- bad values: the packet is dropped whole, counted by kind, and nothing it carried changes the state ---

def feed_all(frames: list[bytes], norm: Normaliser, *, fast: bool = True,
             start: float = RECV0) -> tuple[list, list, list]:
    dec = Decoder()
    q: list[bytes] = []
    t: list[bytes] = []
    d: list[bytes] = []
    norm.fast = fast and norm.fast
    for i, f in enumerate(frames):
        norm.feed_frame(dec, f, start + i, q, t, d)
    return [orjson.loads(x) for x in q], [orjson.loads(x) for x in t], [orjson.loads(x) for x in d]


NAN, INF = float("nan"), float("inf")
CROSSED = ((100, 200, 3, 4, 100.1, 100.05), *DEPTH[1:])


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(("bad", "kind"), [
    (full(1075, NAN), "price_nan"),
    (full(1075, INF), "price_inf"),
    (full(1075, -INF), "price_inf"),
    (full(1075, 3e38), "price_range"),
    (full(1075, 1e18), "price_range"),
    (full(1075, -0.05), "price_range"),
    (full(1075, 100.0, depth=(*DEPTH[:4], (1, 1, 1, 1, 99.8, NAN))), "price_nan"),
    (full(1075, 100.0, depth=CROSSED), "depth_crossed"),
    (full(1075, 100.0, ltt=LTT + 2 * 86_400), "ltt_future"),
    (full(1075, 100.0, ltt=2**32 - 1), "ltt_future"),
    (full(1075, 100.0, ltt=5), "ltt_past"),
    (full(1075, 100.0, ltt=LTT - 2 * 86_400), "ltt_past"),
    (full(999, 100.0), "volume_back"),
    (pack_quote(2, 7, ltp=100.0, ltq=75, ltt=LTT, atp=NAN, volume=1075, total_sell_qty=1, total_buy_qty=2,
                open=99.0, close=97.5, high=100.0, low=98.0), "price_nan"),
    (pack_quote(2, 7, ltp=100.0, ltq=75, ltt=LTT, atp=99.0, volume=999, total_sell_qty=1, total_buy_qty=2,
                open=99.0, close=97.5, high=100.0, low=98.0), "volume_back"),
    (pack_ticker(2, 7, NAN, LTT), "price_nan"),
    (pack_ticker(2, 7, 100.0, 2**32 - 1), "ltt_future"),
    (pack_ticker(2, 7, 100.0, 1), "ltt_past"),
    (pack_prev_close(2, 7, INF, 5), "price_inf"),
    (pack_depth_v1(2, 7, 100.0, CROSSED), "depth_crossed"),
    (pack_depth_v1(2, 7, 3e38, DEPTH), "price_range"),
])
def test_bad_packet_is_dropped_counted_and_changes_nothing(bad: bytes, kind: str, fast: bool) -> None:
    reported: list[tuple[str, dict]] = []
    norm = Normaliser({(2, 7): 0.05}, on_bad=lambda k, info: reported.append((k, info)))
    quotes, ticks, depth = feed_all([full(1000, 100.05), bad, bad, full(1150, 100.10)], norm, fast=fast)
    assert norm.bad_values[kind] == 2 and norm.bad_total == 2
    assert [k for k, _ in reported] == [kind]  # reported once per kind
    assert reported[0][1]["seg"] == "NSE_FNO" and reported[0][1]["sid"] == 7
    assert len(quotes) == 2 and len(depth) == 2  # the bad packets made no event
    # the trade after them is whole: the baseline stayed at 1000, the book and price are the good ones
    assert [(t["qty"], t["volume"], t["ltp"], t["side"]) for t in ticks] == [(150, 1150, 100.1, "B")]
    assert quotes[-1]["ltp"] == 100.1 and quotes[-1]["prev_close"] is None


@pytest.mark.parametrize("fast", [True, False])
def test_volume_backwards_never_trades_nor_moves_the_baseline(fast: bool) -> None:
    norm = Normaliser({(2, 7): 0.05})
    _, ticks, _ = feed_all([full(1000, 100.05), full(1300, 100.10), full(1150, 100.0), full(1150, 100.0),
                            full(1375, 100.15)], norm, fast=fast)
    assert [(t["qty"], t["volume"]) for t in ticks] == [(300, 1300), (75, 1375)]
    assert norm.bad_values["volume_back"] == 2


@pytest.mark.parametrize("fast", [True, False])
def test_a_later_trading_day_starts_the_volume_again(fast: bool) -> None:
    norm = Normaliser({(2, 7): 0.05})
    day2 = LTT + 86_400
    _, ticks, _ = feed_all([full(1000, 100.05), full(1300, 100.10), full(75, 101.0, ltt=day2),
                            full(150, 101.05, ltt=day2 + 1), full(100, 101.0, ltt=day2 + 2)],
                           norm, fast=fast, start=RECV0 + 86_400)
    assert [(t["qty"], t["volume"], t["exchange_ts"]) for t in ticks] == [
        (300, 1300, LTT), (75, 75, day2), (75, 150, day2 + 1)]
    assert norm.bad_values["volume_back"] == 1  # the last one: back within the new day


def test_quote_without_a_trade_may_carry_an_old_ltt_but_a_trade_may_not() -> None:
    friday = LTT - 3 * 86_400  # an instrument untraded since Friday, seen on Monday morning
    norm = Normaliser({(2, 7): 0.05})
    quotes, ticks, _ = feed_all([pack_ticker(2, 8, 100.0, LTT), full(1000, 100.05, ltt=friday),
                                 full(1000, 100.05, ltt=friday), full(1075, 100.05, ltt=friday),
                                 full(1075, 100.05, ltt=LTT + 3)], norm)
    assert [q["exchange_ts"] for q in quotes] == [LTT, friday, friday, LTT + 3]
    assert [(t["qty"], t["exchange_ts"]) for t in ticks] == [(75, LTT + 3)]
    assert norm.bad_values["ltt_past"] == 1


def test_zero_and_locked_depth_levels_pass() -> None:
    zero = DEPTH[:3] + ((0, 0, 0, 0, 0.0, 0.0),) * 2
    locked = ((100, 200, 3, 4, 100.05, 100.05), *DEPTH[1:])
    one_sided = ((0, 200, 0, 4, 0.0, 100.05), *DEPTH[1:])
    norm = Normaliser({(2, 7): 0.05})
    quotes, _, depth = feed_all([full(1000, 100.05, depth=zero), full(1000, 100.05, depth=locked),
                                 full(1000, 100.05, depth=one_sided)], norm)
    assert len(quotes) == 3 and norm.bad_total == 0
    assert depth[0]["bids"][4] == [0.0, 0, 0] and quotes[2]["bid"] is None and quotes[2]["ask"] == 100.05


@pytest.mark.parametrize("fast", [True, False])
def test_open_interest_over_two_to_the_31_passes_whole(fast: bool) -> None:
    big = pack_full(2, 7, ltp=100.0, ltq=75, ltt=LTT, atp=100.0, volume=1000, total_sell_qty=2**32 - 1,
                    total_buy_qty=2**32 - 1, oi=2**32 - 1, oi_high=2**32 - 1, oi_low=2**31, open=99.0,
                    close=98.0, high=101.0, low=97.0, depth=DEPTH)
    norm = Normaliser({(2, 7): 0.05})
    quotes, _, _ = feed_all([big, pack_oi(2, 7, 3_000_000_000)], norm, fast=fast)
    assert [q["oi"] for q in quotes] == [2**32 - 1, 3_000_000_000] and quotes[0]["oi_low"] == 2**31
    assert norm.bad_total == 0


def test_a_bad_packet_after_the_native_path_does_not_break_the_state() -> None:
    """The native path keeps an instrument's state as JSON; a bad Python-path packet after it must neither
    raise (it used to fail parsing that JSON) nor lose that state."""
    norm = Normaliser({(2, 7): 0.05})
    quotes, _, _ = feed_all([full(1000, 3e38), full(1000, 100.05), pack_ticker(2, 7, NAN, LTT),
                             pack_oi(2, 7, 7)], norm)
    assert [(q["ltp"], q["oi"], q["volume"]) for q in quotes] == [(100.05, 1000, 1000), (100.05, 7, 1000)]
    assert norm.bad_values == {**norm.bad_values, "price_range": 1, "price_nan": 1} and norm.bad_total == 2


def test_rounder_refuses_bad_prices_and_never_memoises_them() -> None:
    r = price_rounder(0.05)
    for value, kind in ((NAN, "price_nan"), (INF, "price_inf"), (-INF, "price_inf"), (1e9, "price_range"),
                        (-0.01, "price_range")):
        for _ in range(2):
            with pytest.raises(BadValue) as err:
                r(value)
            assert err.value.kind == kind
    assert r(999_999_999.99) == 1e9 and r(5e-324) == 0.0
