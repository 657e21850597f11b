"""Alert rules and the de-duplicating alert book on hand-built snapshots (pure)."""

from __future__ import annotations

from datetime import datetime

from control.monitor.alerts import AlertBook
from control.monitor.rules import Condition, Rules, Thresholds, market_open, verdict
from control.monitor.snapshot import GroupInfo, Snapshot, StreamInfo
from shared.calendar import TradingCalendar
from shared.clock import IST
from tests.conftest import make_settings

T0 = 1_800_000_000.0


def hb(name: str, now: float, state: str = "running", **fields: object) -> dict[str, str]:
    return {"name": name, "state": state, "updated_at": str(now), **{k: str(v) for k, v in fields.items()}}


def keys(conds: list[Condition]) -> set[str]:
    return {c.key for c in conds}


def test_service_crashed_stale_vanished_and_clean_stop() -> None:
    rules = Rules(Thresholds(stale_s=5))
    snap = Snapshot(now=T0, heartbeats={"feed": hb("feed", T0), "greeks": hb("greeks", T0)})
    assert rules.evaluate(snap) == []
    snap = Snapshot(now=T0 + 10, heartbeats={"feed": hb("feed", T0 + 4), "greeks": hb("greeks", T0 + 10)})
    (c,) = rules.evaluate(snap)
    assert c.key == "service_down:feed" and "stale" in c.detail and c.severity == "critical"
    snap = Snapshot(now=T0 + 11, heartbeats={"greeks": hb("greeks", T0 + 11, "crashed", error="boom")})
    got = {c.key: c for c in rules.evaluate(snap)}
    assert "heartbeat gone" in got["service_down:feed"].detail
    greeks = got["service_down:greeks"]
    assert greeks.severity == "warning" and "boom" in greeks.detail
    # back: feed running again; greeks stopped cleanly -> nothing
    snap = Snapshot(now=T0 + 12, heartbeats={"feed": hb("feed", T0 + 12),
                                             "greeks": hb("greeks", T0 + 12, "stopped")})
    assert rules.evaluate(snap) == []
    assert rules.evaluate(Snapshot(now=T0 + 13, heartbeats={"feed": hb("feed", T0 + 13)})) == []


def test_feed_disconnected_writer_failures_pool() -> None:
    rules = Rules(Thresholds(feed_disconnected_s=60, db_failures_per_min=5, pool_exhausted_s=10))
    snap = Snapshot(now=T0, heartbeats={
        "feed": hb("feed", T0, connections=1, connections_up=0),
        "writer": hb("writer", T0, failures_per_min=6, mysql_ok=0,
                     pool_size=4, pool_in_use=4, pool_waiting=2),
    }, mysql_threads=150, mysql_max_connections=151)
    got = {c.key: c for c in rules.evaluate(snap)}
    assert got["feed_disconnected:feed"].hold_s == 60
    assert "6 MySQL write failures" in got["db_write_failures:writer"].detail
    assert got["mysql_pool_exhausted:writer"].hold_s == 10
    assert "mysql_pool_exhausted:server" in got
    ok = Snapshot(now=T0, heartbeats={
        "feed": hb("feed", T0, connections=1, connections_up=1),
        "writer": hb("writer", T0, failures_per_min=5, pool_size=4, pool_in_use=4, pool_waiting=0),
    }, mysql_threads=10, mysql_max_connections=151)
    assert rules.evaluate(ok) == []


def test_feed_spool_failing_is_critical_and_resolves() -> None:
    rules = Rules(Thresholds())
    failing = hb("feed", T0, connections=1, connections_up=1, spool_failing=1,
                 spool_error="No space left on device", buffered=250_000, dropped_quotes=1200, dropped_depth=300,
                 dropped_ticks=0)
    (c,) = rules.evaluate(Snapshot(now=T0, heartbeats={"feed": failing}))
    assert (c.key, c.rule, c.severity, c.hold_s) == ("spool_failing:feed", "spool_failing", "critical", 0.0)
    assert c.detail == ("feed: spool cannot be written (No space left on device); 250,000 events held in memory, "
                        "1,500 dropped")
    ok = hb("feed", T0 + 1, connections=1, connections_up=1, spool_failing=0, dropped_quotes=1200)
    assert rules.evaluate(Snapshot(now=T0 + 1, heartbeats={"feed": ok})) == []


def test_redis_memory_lag_and_unreachable() -> None:
    rules = Rules(Thresholds(redis_memory_pct=80, lag_max=100))
    snap = Snapshot(now=T0, redis_used_memory=81, redis_maxmemory=100,
                    streams={"quotes": StreamInfo(5, None, {"writer": GroupInfo(101, 0, 1),
                                                            "greeks": GroupInfo(3, 0, 1)})})
    assert keys(rules.evaluate(snap)) == {"redis_memory", "consumer_lag:quotes:writer"}
    assert rules.evaluate(Snapshot(now=T0, redis_used_memory=81, redis_maxmemory=0)) == []  # no limit
    (c,) = rules.evaluate(Snapshot(now=T0, redis_ok=False, redis_error="Connection refused"))
    assert c.rule == "redis_unreachable" and verdict([c])[0] == "down"


def test_no_ticks_only_in_market_hours_after_grace() -> None:
    rules = Rules(Thresholds(no_ticks_s=60))
    old = {"ticks": StreamInfo(10, int((T0 - 3600) * 1000))}
    assert rules.evaluate(Snapshot(now=T0, redis_now=T0, streams=old, market_open=False)) == []
    assert rules.evaluate(Snapshot(now=T0, redis_now=T0, streams=old, market_open=True)) == []  # just opened
    (c,) = rules.evaluate(Snapshot(now=T0 + 61, redis_now=T0 + 61, streams=old, market_open=True))
    assert c.key == "no_ticks" and "for 61min" in c.detail
    fresh = {"ticks": StreamInfo(10, int((T0 + 60) * 1000))}
    assert rules.evaluate(Snapshot(now=T0 + 62, redis_now=T0 + 62, streams=fresh, market_open=True)) == []
    assert rules.evaluate(Snapshot(now=T0 + 999, redis_now=T0 + 999, streams=old, market_open=False)) == []


def test_one_instrument_silent_while_peers_tick() -> None:
    rules = Rules(Thresholds(instrument_silent_s=30, peers_active_pct=50))
    uni = {f"NSE_FNO:{i}": {"symbol": f"OPT{i}"} for i in range(4)} | {"MCX_COMM:1": {"symbol": "GOLD"}}
    seen = {f"NSE_FNO:{i}": T0 for i in range(4)} | {"MCX_COMM:1": T0}
    rules.evaluate(Snapshot(now=T0, universe=uni, last_seen=seen, market_open=True))
    seen2 = {**seen, "NSE_FNO:1": T0 + 40, "NSE_FNO:2": T0 + 40, "NSE_FNO:3": T0 + 40}
    (c,) = rules.evaluate(Snapshot(now=T0 + 41, universe=uni, last_seen=seen2, market_open=True))
    assert c.key == "instrument_silent:NSE_FNO:0" and "OPT0" in c.detail  # GOLD has no peers: not alerted
    # the whole segment quiet: no alert for instruments (no_ticks is another rule)
    quiet = rules.evaluate(Snapshot(now=T0 + 200, universe=uni, last_seen=seen2, market_open=True))
    assert [c.rule for c in quiet] == ["no_ticks"]
    # closed market: no alert
    assert rules.evaluate(Snapshot(now=T0 + 41, universe=uni, last_seen=seen2, market_open=False)) == []


def test_many_silent_instruments_summarised() -> None:
    rules = Rules(Thresholds(instrument_silent_s=10, peers_active_pct=10))
    seen = {f"NSE_EQ:{i}": T0 for i in range(100)}
    rules.evaluate(Snapshot(now=T0, last_seen=seen, market_open=True))
    seen2 = {k: (T0 + 20 if i < 50 else T0) for i, k in enumerate(seen)}
    (c,) = rules.evaluate(Snapshot(now=T0 + 21, last_seen=seen2, market_open=True))
    assert c.key == "instrument_silent:many" and c.detail.startswith("50 instruments")


def test_alert_book_holds_dedupes_and_recovers() -> None:
    book = AlertBook()
    cond = Condition("feed_disconnected:feed", "feed_disconnected", "critical", "0 of 1", hold_s=60)
    assert book.update([cond], T0) == []
    assert book.update([cond], T0 + 59) == []
    (fired,) = book.update([cond], T0 + 60)
    assert fired["state"] == "firing" and fired["since"] == T0
    assert fired["id"].startswith("feed_disconnected:feed@")
    assert book.update([cond], T0 + 61) == []            # no repeat
    (res,) = book.update([], T0 + 70)
    assert res["state"] == "resolved" and res["duration_s"] == 10.0 and res["id"] == fired["id"]
    assert book.update([], T0 + 71) == []
    # a condition that flaps shorter than its hold never fires
    assert book.update([cond], T0 + 80) == [] and book.update([], T0 + 81) == []
    assert book.update([cond], T0 + 82) == [] and book.pending(T0 + 83) == {cond.key: 1.0}


def test_alert_book_resumes_after_restart() -> None:
    first = AlertBook()
    cond = Condition("redis_memory", "redis_memory", "warning", "85%", hold_s=0)
    (fired,) = first.update([cond], T0)
    second = AlertBook()
    second.load({"redis_memory": fired})
    assert second.update([cond], T0 + 1) == []            # not fired again
    (res,) = second.update([], T0 + 2)
    assert res["state"] == "resolved"


def test_verdict() -> None:
    warn = Condition("a", "redis_memory", "warning", "mem high")
    crit = Condition("b", "no_ticks", "critical", "no ticks")
    assert verdict([]) == ("healthy", "every rule passes")
    assert verdict([warn]) == ("degraded", "mem high")
    assert verdict([warn, crit]) == ("down", "no ticks")


def test_a_redis_outage_between_two_evaluations_still_fires_once() -> None:
    # Seen only as a cut connection: the alert fires on that evaluation and resolves on the next, while the
    # other conditions carry on (no flapping of alerts that still hold).
    rules, book = Rules(Thresholds(redis_memory_pct=80)), AlertBook()
    memory = {"redis_used_memory": 90, "redis_maxmemory": 100}
    assert keys(rules.evaluate(Snapshot(now=T0, **memory))) == {"redis_memory"}
    book.update(rules.evaluate(Snapshot(now=T0, **memory)), T0)
    conds = rules.evaluate(Snapshot(now=T0 + 1, redis_dropped="subscription cut", **memory))
    assert keys(conds) == {"redis_memory", "redis_unreachable"}
    (fired,) = book.update(conds, T0 + 1)
    assert fired["state"] == "firing" and "subscription cut" in fired["detail"] and fired["severity"] == "critical"
    (resolved,) = book.update(rules.evaluate(Snapshot(now=T0 + 2, **memory)), T0 + 2)
    assert resolved["key"] == "redis_unreachable" and resolved["state"] == "resolved"


def test_market_hours_the_monitor_and_the_control_center_count() -> None:
    """One definition (control.monitor.rules.market_open): the exchanges we trade, holidays included, or always."""
    cal = TradingCalendar.load(None)
    tuesday_10 = datetime(2026, 12, 8, 10, 0, tzinfo=IST).timestamp()
    tuesday_20 = datetime(2026, 12, 8, 20, 0, tzinfo=IST).timestamp()   # MCX's evening, NSE closed
    sunday_10 = datetime(2026, 12, 6, 10, 0, tzinfo=IST).timestamp()
    nse = make_settings(mcx_enabled=False)
    mcx = make_settings(mcx_enabled=True)
    always = make_settings(monitor_market_hours="always")
    assert market_open(cal, tuesday_10, nse) and not market_open(cal, tuesday_20, nse)
    assert market_open(cal, tuesday_20, mcx) and not market_open(cal, sunday_10, mcx)
    assert market_open(cal, sunday_10, always)
