"""writer.batch and writer.sql, pure: rendering, validation, collapse, dedupe, summary increments."""

from __future__ import annotations

import orjson
import pytest

from writer import sql
from writer.batch import BatchBuilder, Entry

from .conftest import BASE_TS, depth, greeks, quote, tick


def _entries(kind: str, events: list[dict | bytes]) -> list[Entry]:
    return [
        Entry(kind, f"{i + 1}-0".encode(), e if isinstance(e, bytes) else orjson.dumps(e)) for i, e in enumerate(events)
    ]


def test_tick_row_renders_exact_decimals_and_ist_time() -> None:
    ev = {**tick(35001, 75, ltp=24046.95, qty=75, bid=0.0025), "ask": None}
    batch = BatchBuilder().build(_entries("ticks", [ev, {**ev, "volume": 150, "rule": "q"}]))
    assert batch.poison == []
    assert batch.ticks == [  # side_rule last: '' for an event from before the feed sent it
        "('NSE_FNO',35001,'2026-11-25',75,24046.9500,75,75,1795600800,'2026-11-25 10:00:00',"
        "1795581000.123456,1000,'B',0.0025,NULL,'')",
        "('NSE_FNO',35001,'2026-11-25',150,24046.9500,75,75,1795600800,'2026-11-25 10:00:00',"
        "1795581000.123456,1000,'B',0.0025,NULL,'q')",
    ]


def test_float_noise_is_rounded_to_four_places() -> None:
    batch = BatchBuilder().build(_entries("ticks", [tick(1, 3, ltp=0.1 + 0.2, qty=3)]))
    assert ",0.3000," in batch.ticks[0]
    assert ",0.9000,ROUND(" in batch.summary[0]  # turnover 0.3 x 3, exact


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (b"{not json", "JSONDecodeError"),
        (b"[1,2]", "not an object"),
        ({"v": 2, "seg": "NSE_FNO"}, "version"),
        ({**tick(1, 5), "ltp": None}, "TypeError"),  # orjson writes NaN as null
        ({**tick(1, 5), "ltp": "100.5"}, "TypeError"),
        ({**tick(1, 5), "qty": 1.5}, "ValueError"),
        ({**tick(1, 5), "seg": "nse'; DROP TABLE x; --"}, "segment"),
        ({**tick(1, 5), "side": "X"}, "bad side 'X'"),
        ({**tick(1, 5), "exchange_ts": 0}, "exchange_ts"),
        ({k: v for k, v in tick(1, 5).items() if k != "volume"}, "missing field 'volume'"),
        ({**tick(1, 5), "ltp": "9" * 60_000}, "TypeError: bad trade price '9999"),  # x 10000: 600 MB of text
        ({**tick(1, 5), "ltp": True}, "TypeError: bad trade price True"),  # bool is an int to Python
        ({**tick(1, 5), "qty": True}, "TypeError: bad qty True"),
        ({**tick(1, 5), "ltp": 2e9}, "ValueError: bad trade price"),  # see writer/values.py: summary sums
        ({**tick(1, 5), "qty": -1}, "ValueError: bad qty -1"),
        ({**tick(1, 5), "qty": 2**32}, "ValueError: bad qty"),
        ({**tick(1, 5), "oi": -1}, "ValueError: bad oi -1"),
        ({**tick(1, 5), "sid": 2**32}, "ValueError: bad sid"),
        ({**tick(1, 5), "ltq": 2**32}, "ValueError: bad ltq"),
        ({**tick(1, 5), "bid": 1e14}, "ValueError: bad bid"),
        ({**tick(1, 5), "recv_ts": 0}, "ValueError: bad recv_ts 0"),
        ({**tick(1, 5), "recv_ts": 1e11}, "ValueError: bad recv_ts"),
        ({**tick(1, 5), "exchange_ts": 1.7e9}, "bad exchange_ts 1700000000.0"),
        ({**tick(1, 5), "exchange_ts": True}, "TypeError: bad exchange_ts True"),
        ({**tick(1, 5), "seg": "NSE_FNO\n"}, "bad exchange segment 'NSE_FNO\\n'"),
        ({**tick(1, 5), "seg": ["NSE_FNO"]}, "TypeError: bad exchange segment"),
        ({**tick(1, 5), "side": ["B"]}, "bad side ['B']"),
        ({**tick(1, 5), "rule": "x"}, "bad rule 'x'"),
        ({**tick(1, 5), "rule": 1}, "bad rule 1"),
        ({**tick(1, 5), "v": "x" * 1000}, "ValueError: unsupported event version 'xxxxxxxxxxxxxxxxx...xxxxx"),
    ],
)
def test_bad_tick_is_poison_with_a_reason_and_the_rest_survives(event: dict | bytes, reason: str) -> None:
    batch = BatchBuilder().build(_entries("ticks", [tick(2, 10), event, tick(3, 10)]))
    assert [p.entry.entry_id for p in batch.poison] == [b"2-0"]
    assert reason in batch.poison[0].reason
    assert batch.poison[0].error is None and len(batch.poison[0].reason) < 120  # an expected, one-line reason
    assert len(batch.ticks) == 2


def test_missing_payload_is_poison() -> None:
    batch = BatchBuilder().build([Entry("quotes", b"1-0", None)])
    assert batch.poison[0].reason.startswith("ValueError: entry has no 'd' field")


def test_ticks_dedupe_on_natural_key_first_wins_and_sort() -> None:
    events = [
        tick(2, 10, ltp=10.0, qty=10),
        tick(1, 5, qty=5),
        tick(2, 10, ltp=99.0, qty=10),
        tick(1, 7, qty=2),
    ]
    batch = BatchBuilder().build(_entries("ticks", events))
    assert [r.split(",")[1] + ":" + r.split(",")[3] for r in batch.ticks] == ["1:5", "1:7", "2:10"]
    assert ",10.0000," in batch.ticks[2]


def test_summary_increment_folds_one_instrument_day() -> None:
    events = [
        tick(1, 12, ltp=101.0, qty=2, ts=BASE_TS + 5),
        tick(1, 10, ltp=100.0, qty=10, ts=BASE_TS),
        tick(1, 15, ltp=99.5, qty=3, ts=BASE_TS + 9, oi=1234),
        tick(1, 3, ltp=50.0, qty=3, ts=BASE_TS + 86_400),  # next trading day: its own summary row
    ]
    batch = BatchBuilder().build(_entries("ticks", events))
    assert batch.summary_keys == [("'NSE_FNO'", 1, "'2026-11-25'"), ("'NSE_FNO'", 1, "'2026-11-26'")]
    # key, open high low close volume turnover, vwap (by the server), oi, ticks, first/last cum volume, time
    assert batch.summary[0] == (
        "('NSE_FNO',1,'2026-11-25',100.0000,101.0000,99.5000,99.5000,15,1500.5000,"
        f"ROUND(1500.5000/NULLIF(15,0),4),1234,3,10,15,{BASE_TS},{BASE_TS + 9},UTC_TIMESTAMP(6))"
    )


def test_latest_state_collapses_to_newest_by_exchange_time_volume_recv() -> None:
    b = BatchBuilder()
    events = [
        quote(1, ltp=101.0, volume=20, ts=BASE_TS + 2),
        quote(1, ltp=100.0, volume=10, ts=BASE_TS + 1, recv_ts=9e9),  # later receive, older trade: loses
        quote(1, ltp=102.0, volume=25, ts=BASE_TS + 2),  # same second, more volume: wins
        quote(2, ltp=5.0),
    ]
    batch = b.build(_entries("quotes", events))
    assert len(batch.quotes) == 2
    assert batch.quotes[0].startswith("('NSE_FNO',1,102.0000,")
    d = b.build(_entries("depth", [depth(1, mid=100.0), depth(1, mid=200.0, recv_ts=1.0)]))
    assert ",99.9500," in d.depth[0]  # the second has an older recv_ts in the same exchange second
    g = b.build(_entries("greeks", [greeks(9, iv=None), greeks(9, recv_ts=1.0)]))
    assert len(g.greeks) == 1 and "'CE','2026-11-27'" in g.greeks[0] and ",NULL," in g.greeks[0]


def test_superseded_bad_quote_is_dropped_but_a_bad_winner_is_poison() -> None:
    bad_newest = {**quote(1, ts=BASE_TS + 5), "src": "x" * 40}
    batch = BatchBuilder().build(_entries("quotes", [quote(1), bad_newest]))
    assert batch.quotes == [] and len(batch.poison) == 1 and "text value" in batch.poison[0].reason


def test_depth_with_fewer_levels_pads_nulls_and_rejects_six() -> None:
    ev = depth(1)
    ev["bids"] = ev["bids"][:2]
    batch = BatchBuilder().build(_entries("depth", [ev]))
    assert batch.depth[0].count("NULL,NULL,NULL") == 3
    ev["asks"] = ev["asks"] * 2
    assert "at most 5 levels" in BatchBuilder().build(_entries("depth", [ev])).poison[0].reason


def test_forward_guard_assigns_order_columns_last_least_significant_first() -> None:
    tail = sql.quote_upsert.tail
    order = [tail.index(f" {c} = IF(") for c in ("ltp", "src", "recv_ts", "volume", "exchange_ts")]
    assert order == sorted(order)
    assert "VALUES(recv_ts) >= recv_ts" in tail


def test_render_statements_chunks_by_size() -> None:
    rows = [f"({i})" for i in range(100)]
    texts = list(sql.render_statements(sql.Statement("INSERT INTO t (a) VALUES ", ""), rows, max_bytes=120))
    assert len(texts) > 1 and all(len(t) <= 120 for t in texts)
    assert [r for t in texts for r in t.split("VALUES ", 1)[1].split(",")] == rows  # every row once, in order


@pytest.mark.parametrize(
    ("kind", "event", "reason"),
    [
        ("quotes", {**quote(1), "ltp": True}, "TypeError: bad ltp True"),
        ("quotes", {**quote(1), "oi": -1}, "ValueError: bad oi -1"),
        ("quotes", {**quote(1), "tsq": 2**64 - 1, "tbq": "12"}, "TypeError: bad tbq '12'"),
        ("quotes", {**quote(1), "high": 1e14}, "ValueError: bad high"),
        ("quotes", {**quote(1), "src": 256}, "bad text value 256"),
        ("quotes", {**quote(1), "src": "full\n"}, "bad text value 'full\\n'"),
        ("depth", {**depth(1), "bids": [[100.0, -1, 1]]}, "ValueError: bad depth qty -1"),
        ("depth", {**depth(1), "asks": [[100.0, 1, 2**32]]}, "ValueError: bad depth orders"),
        ("depth", {**depth(1), "bids": "x" * 5}, "bids must be a list"),
        ("depth", {**depth(1), "bids": [[1.0, 2]]}, "a depth level must be [price, qty, orders]"),
        ("depth", {**depth(1), "bids": [[True, 1, 1]]}, "TypeError: bad price True"),
        ("greeks", {**greeks(1), "iv": "0.2"}, "TypeError: bad iv '0.2'"),
        ("greeks", {**greeks(1), "strike": 1e12}, "ValueError: bad strike"),
        ("greeks", {**greeks(1), "option_type": "XX"}, "bad option_type 'XX'"),
        ("greeks", {**greeks(1), "expiry": "2026-11-27" * 1000}, "bad expiry '2026-11-272"),
        ("greeks", {**greeks(1), "expiry": "0001-01-01"}, "bad expiry 0001-01-01"),
        ("greeks", {**greeks(1), "underlying_sid": -3}, "ValueError: bad underlying_sid -3"),
    ],
)
def test_bad_latest_state_value_is_poison_with_a_reason(kind: str, event: dict, reason: str) -> None:
    batch = BatchBuilder().build(_entries(kind, [event]))
    assert len(batch.poison) == 1 and reason in batch.poison[0].reason
    assert batch.quotes == batch.depth == batch.greeks == []


def test_an_out_of_range_order_cannot_supersede_the_valid_latest_state() -> None:
    # The collapse keeps the newest event per instrument: an exchange_ts beyond INT UNSIGNED would be the
    # "newest", then fail, and the valid quote it superseded would be written nowhere.
    for bad in ({"exchange_ts": 2**40}, {"volume": -1}, {"recv_ts": 1e300}, {"sid": 2**32 + 1}):
        events = [quote(1, ltp=101.0, ts=BASE_TS + 1), {**quote(1, ltp=666.0, ts=BASE_TS + 2), **bad}]
        batch = BatchBuilder().build(_entries("quotes", events))
        assert len(batch.poison) == 1 and batch.poison[0].entry.entry_id == b"2-0", bad
        assert len(batch.quotes) == 1 and ",101.0000," in batch.quotes[0], bad


def test_literal_caches_stay_bounded_under_distinct_values() -> None:
    b = BatchBuilder()
    events = [
        {**greeks(i), "seg": f"S{i:06d}", "underlying_seg": f"U{i:06d}", "expiry": f"{2000 + i % 900:04d}-01-02"}
        for i in range(5000)
    ]
    quotes = [{**quote(i), "src": f"w{i}", "exchange_ts": BASE_TS + i} for i in range(70_000)]
    assert b.build(_entries("greeks", events)).poison == []
    assert b.build(_entries("quotes", quotes)).poison == []
    assert len(b._segs) <= 1024 and len(b._words) <= 1024 and len(b._dates) <= 1024
    assert len(b._times) <= 65_536


def test_an_unexpected_failure_is_poison_that_carries_the_error() -> None:
    class Broken(BatchBuilder):
        def _tick(self, ev: dict, out: dict) -> None:
            raise RecursionError("maximum recursion depth exceeded")

    batch = Broken().build(_entries("ticks", [tick(1, 5)]))
    assert batch.poison[0].reason == "RecursionError: maximum recursion depth exceeded"
    assert isinstance(batch.poison[0].error, RecursionError)
