"""The Control Center's Qt-free views: service states, instrument ages, monitor figures, startup summary."""

from __future__ import annotations

from control.center.catalog import Entry
from control.center.checklist import Checklist
from control.center.service_rows import HOST, ProcessFigures, build_rows
from control.monitor.quotes_seen import QuoteSeen
from control.monitor.snapshot import Snapshot
from control.stack.supervisor import ChildSpec, ChildState

NOW = 1_800_000_000.0


def hb(name: str, updated: float, state: str = "running", pid: int = 4242, host: str = "other-host",
       **kw: object) -> dict[str, str]:
    return {"name": name, "state": state, "updated_at": str(updated), "pid": str(pid), "host": host,
            "uptime_s": "12.0", **{k: str(v) for k, v in kw.items()}}


def rows(children: dict[str, ChildState], hbs: dict[str, dict[str, str]]) -> dict[str, tuple[str, str, bool]]:
    entries = [Entry("feed", ("feed",)), Entry("writer", ("writer",)), Entry("viz tick-chart", ("viz", "tick-chart"),
                                                                            kind="window", in_start_all=False)]
    out = build_rows(entries, children, hbs, NOW, 5.0, ProcessFigures())
    return {r.name: (r.state, r.where, r.local) for r in out}


def test_remote_states() -> None:
    got = rows({}, {"feed": hb("feed", NOW - 1), "writer": hb("writer", NOW - 30)})
    assert got["feed"] == ("running", "other-host pid 4242", False)
    assert got["writer"][0] == "stale heartbeat"
    assert got["viz tick-chart"][0] == "stopped"
    got = rows({}, {"feed": hb("feed", NOW - 1, "crashed", error="boom"), "writer": hb("writer", NOW, "stopped"),
                    "feed-2": hb("feed", NOW - 1, "starting", step="loading instruments")})
    assert got["feed"][0] == "crashed" and got["writer"][0] == "stopped"
    assert got["feed-2"][0] == "starting"                    # another instance gets its own row


def test_local_states_follow_the_process_then_its_heartbeat() -> None:
    child = ChildState(ChildSpec("feed", ("feed",)), state="running", pid=777, started_at=NOW - 2)
    got = rows({"feed": child}, {})
    assert got["feed"] == ("starting", "pid 777", True)       # launched, no heartbeat yet
    got = rows({"feed": child}, {"feed": hb("feed", NOW - 1, pid=555, host=HOST)})
    assert got["feed"][0] == "starting"                       # an old process's heartbeat is not this one's
    got = rows({"feed": child}, {"feed": hb("feed", NOW - 1, "starting", pid=777, host=HOST, step="setting up")})
    assert got["feed"][0] == "starting"
    got = rows({"feed": child}, {"feed": hb("feed", NOW - 1, pid=777, host=HOST)})
    assert got["feed"][0] == "running"
    crashed = ChildState(ChildSpec("feed", ("feed",)), state="crashed", exit_code=-9, restarts=1)
    got = rows({"feed": crashed}, {"feed": hb("feed", NOW - 1, pid=777, host=HOST)})
    assert got["feed"][0] == "crashed"
    entries = [Entry("feed", ("feed",))]
    (row,) = build_rows(entries, {"feed": crashed}, {}, NOW, 5.0, ProcessFigures())
    assert row.step == "killed by SIGKILL"
    failed = ChildState(ChildSpec("feed", ("feed",)), state="crashed", exit_code=2, last_error="bad token")
    (row,) = build_rows(entries, {"feed": failed}, {}, NOW, 5.0, ProcessFigures())
    assert row.step == "exit 2: bad token"


def test_an_exited_child_is_stopped_though_its_last_heartbeat_was_missed() -> None:
    """Stopped through dhan:control, it exited 0; its "stopped" heartbeat expired before a refresh read it, so
    the remembered one says "running", now stale. Ours and gone: stopped. Another process's stays stale."""
    exited = ChildState(ChildSpec("feed", ("feed",)), state="exited", exit_code=0, last_pid=777,
                        started_at=NOW - 60)
    assert rows({"feed": exited}, {"feed": hb("feed", NOW - 30, pid=777, host=HOST)})["feed"][0] == "stopped"
    assert rows({"feed": exited}, {"feed": hb("feed", NOW - 30, pid=778, host=HOST)})["feed"][0] == "stale heartbeat"
    assert rows({"feed": exited}, {"feed": hb("feed", NOW - 1, pid=777)})["feed"][0] == "running"  # another host


def test_remote_cpu_from_heartbeat_deltas() -> None:
    fig = ProcessFigures()
    assert fig.remote("feed", {"cpu_s": "10.0", "updated_at": "100.0", "rss_mb": "80.5"}) == (None, 80.5)
    assert fig.remote("feed", {"cpu_s": "10.5", "updated_at": "101.0", "rss_mb": "81"}) == (50.0, 81.0)


def test_instrument_rows_quietest_first() -> None:
    from control.center.ui.instruments_tab import instrument_rows

    uni = {"NSE_FNO:1": {"symbol": "A", "role": "option"}, "NSE_FNO:2": {"symbol": "B", "role": "option"},
           "NSE_FNO:3": {"symbol": "C", "role": "option"}}
    seen = {"NSE_FNO:1": QuoteSeen(NOW - 1, 10.0, None), "NSE_FNO:2": QuoteSeen(NOW - 400, 11.0, None)}
    table, colours, summary = instrument_rows(uni, seen, NOW, 300.0)
    assert [r[0] for r in table] == ["NSE_FNO:3", "NSE_FNO:2", "NSE_FNO:1"]
    assert [r[5] for r in table] == ["never", "silent", "fresh"] and colours == ["grey", "red", "green"]
    assert summary.startswith("3 subscribed; 1 quoted") and "1 silent" in summary
    assert [r[0] for r in instrument_rows(uni, seen, NOW, 300.0, "b")[0]] == ["NSE_FNO:2"]


def test_monitor_figures() -> None:
    from control.center.ui.monitor_tab import figures

    snap = Snapshot(now=NOW, redis_used_memory=50 * 2**20, redis_maxmemory=100 * 2**20, mysql_ok=True,
                    mysql_threads=5, mysql_max_connections=151, heartbeats={
                        "feed": hb("feed", NOW, published_per_s=1200.5),
                        "writer": hb("writer", NOW, entries_per_s=900, batch_size=120.5, pool_in_use=1, pool_size=4)})
    f = figures(snap)
    assert f["Feed messages/s"] == "1,200" or f["Feed messages/s"] == "1,201"
    assert f["Writer rows/s"] == "900" and f["Writer batch size"] == "120.5"
    assert f["Redis memory"] == "50.0 of 100 MB (50%)"
    assert f["MySQL"] == "pool 1/4 busy; server 5/151" and f["Market"] == "closed"
    assert figures(Snapshot(now=NOW, redis_ok=False))["Redis memory"] == "unreachable"


def test_startup_summary() -> None:
    clock = iter(float(i) for i in range(100))
    t = Checklist(clock=lambda: next(clock))
    t.reset([("redis", "Redis reachable"), ("feed", "feed running")])
    t.ok("redis")
    t.begin("feed", "launching")
    t.progress("feed", "starting: loading instruments")
    assert t.summary().startswith("feed running: starting: loading instruments")
    t.stuck("feed", "stuck in step 'loading instruments'")
    assert t.summary() == "stuck: feed running - stuck in step 'loading instruments'"
    t.reset([("redis", "Redis reachable")])
    t.ok("redis")
    t.finish()
    assert t.summary().startswith("all green in")


def test_feed_row_shows_the_dhan_connection_budget() -> None:
    entries = [Entry("feed", ("feed",))]
    beat = hb("feed", NOW - 1, connections=1, connections_up=1, instruments=150, budget_used=3, budget_limit=5,
              budget_main=1, budget_depth20=1, budget_depth200=1, budget_per_conn_max=150,
              budget_per_conn_limit=5000, depth20_unfunded=0, depth200_unfunded=0)
    (row,) = build_rows(entries, {}, {"feed": beat}, NOW, 5.0, ProcessFigures())
    assert row.detail == ("1/1 connections, 150 instr. · Dhan sockets 3/5 (live 1, depth20 1, depth200 1); "
                          "per conn 150/5,000")
    short = {**beat, "budget_used": "5", "budget_main": "4", "budget_depth200": "0", "depth200_unfunded": "1",
             "depth20_unfunded": "30"}
    (row,) = build_rows(entries, {}, {"feed": short}, NOW, 5.0, ProcessFigures())
    assert row.detail.endswith("Dhan sockets 5/5 (live 4, depth20 1); per conn 150/5,000; "
                               "30 depth20 unfunded, 1 depth200 unfunded")
    old = {k: v for k, v in beat.items() if not k.startswith("budget")}  # a feed from before the budget
    (row,) = build_rows(entries, {}, {"feed": old}, NOW, 5.0, ProcessFigures())
    assert row.detail == "1/1 connections, 150 instr."
