"""ShardPlan: sticky assignment within Dhan's limits, mode changes, removals, limit error."""

from __future__ import annotations

import pytest

from feed.subscriptions import ShardPlan
from shared.errors import ConfigError
from tests.clocks import PinnedClock, ist


def test_fills_one_connection_then_opens_the_next() -> None:
    plan = ShardPlan(max_per_connection=3, max_connections=5)
    sub, unsub = plan.add({("NSE_EQ", i): "full" for i in range(7)})
    assert unsub == {}
    assert {c: len(v["full"]) for c, v in sub.items()} == {0: 3, 1: 3, 2: 1}
    assert plan.connections == 3 and len(plan) == 7


def test_assignment_is_sticky_and_freed_room_is_reused() -> None:
    plan = ShardPlan(max_per_connection=2, max_connections=5)
    plan.add({("NSE_FNO", i): "full" for i in range(4)})
    where = {k: c for c in range(plan.connections) for ks in plan.members(c).values() for k in ks}
    gone = plan.remove([("NSE_FNO", 0)])
    assert gone == {where[("NSE_FNO", 0)]: {"full": [("NSE_FNO", 0)]}}
    sub, _ = plan.add({("NSE_FNO", 9): "full", ("NSE_FNO", 1): "full"})  # 1 unchanged: nothing sent
    assert sub == {where[("NSE_FNO", 0)]: {"full": [("NSE_FNO", 9)]}}
    assert plan.remove([("NSE_FNO", 42)]) == {}


def test_mode_change_unsubscribes_old_mode_on_the_same_connection() -> None:
    plan = ShardPlan()
    plan.add({("IDX_I", 13): "ticker"})
    sub, unsub = plan.add({("IDX_I", 13): "quote"})
    assert unsub == {0: {"ticker": [("IDX_I", 13)]}} and sub == {0: {"quote": [("IDX_I", 13)]}}
    assert plan.members(0) == {"quote": [("IDX_I", 13)]}


def test_dhan_limit_is_a_config_error() -> None:
    plan = ShardPlan(max_per_connection=2, max_connections=2)
    plan.add({("NSE_EQ", i): "full" for i in range(4)})
    with pytest.raises(ConfigError, match="exceeds Dhan's limit"):
        plan.add({("NSE_EQ", 99): "full"})
    assert len(plan) == 4


def test_default_limits_are_dhans() -> None:
    plan = ShardPlan()
    sub, _ = plan.add({("NSE_FNO", i): "full" for i in range(12_000)})
    assert sorted(len(v["full"]) for v in sub.values()) == [2000, 5000, 5000]


def test_reconnect_backoff_resets_only_after_a_good_session() -> None:
    from feed.connection import GOOD_SESSION_S, DhanConnection
    from tests.conftest import make_settings

    now = [1000.0]
    conn = DhanConnection(0, make_settings(), ShardPlan(), lambda f, t: None, clock=lambda: now[0])
    conn.attempt = 4
    now[0] += GOOD_SESSION_S + 1  # connected long enough, with data: next retry immediate
    conn._after_disconnect("server_closed", 1000.0, True)
    assert conn.attempt == 0
    for expected in (1, 2, 3):  # flapping: data, but dropped within seconds -> keeps backing off
        conn._after_disconnect("server_closed", now[0] - 1.0, True)
        assert conn.attempt == expected
    conn._after_disconnect("closed", now[0], False)  # no data at all
    assert conn.attempt == 4
    conn.last_reason = 805
    conn.attempt = 0
    conn._after_disconnect("server_closed", now[0] - 1.0, True)
    assert conn.attempt >= 3  # too many connections: never hammer
    conn.last_reason = 807
    conn._after_disconnect("server_closed", now[0] - 1.0, True)
    assert conn.fatal is not None and "807" in str(conn.fatal)


@pytest.mark.parametrize(("when", "active"), [
    (ist(2026, 6, 2, 8, 59, 59), False),   # Tuesday before the pre-open
    (ist(2026, 6, 2, 9, 0), True),          # pre-open
    (ist(2026, 6, 2, 15, 29, 59), True),
    (ist(2026, 6, 2, 15, 30), False),       # NSE closed
    (ist(2026, 6, 6, 11, 0), False),        # Saturday
    (ist(2026, 6, 2, 23, 0), False),
], ids=["08:59:59", "09:00", "15:29:59", "15:30", "saturday", "23:00"])
def test_stall_watchdog_sleeps_outside_nse_hours_on_the_connections_clock(when: float, active: bool) -> None:
    from feed.connection import DhanConnection
    from tests.conftest import make_settings

    settings = make_settings(client_id="1", access_token="t", mcx_enabled=False)  # Dhan, not the simulator
    conn = DhanConnection(0, settings, ShardPlan(), lambda f, t: None, clock=PinnedClock(when))
    assert conn._watchdog_active() is active


def test_stall_watchdog_sleeps_on_an_nse_holiday() -> None:
    from feed.connection import DhanConnection
    from tests.conftest import make_settings

    settings = make_settings(client_id="1", access_token="t", mcx_enabled=False)  # Dhan, not the simulator
    christmas = PinnedClock(ist(2026, 12, 25, 11, 0))  # a Friday, an NSE holiday in shared/data/holidays.json
    assert not DhanConnection(0, settings, ShardPlan(), lambda f, t: None, clock=christmas)._watchdog_active()


@pytest.mark.parametrize(("market_hours", "active"), [(False, True), (True, False)],
                         ids=["always-open sim", "sim with market hours"])
def test_stall_watchdog_against_the_simulator_follows_its_market_hours(market_hours: bool, active: bool) -> None:
    """At 20:00 IST a simulator run with market hours sends nothing after its snapshots: a quiet socket is no
    stall; the always-open demo simulator keeps the watchdog on."""
    from feed.connection import DhanConnection
    from tests.conftest import make_settings

    settings = make_settings(sim_market_hours=market_hours, mcx_enabled=False)  # no token: the simulator
    evening = PinnedClock(ist(2026, 6, 3, 20, 0))  # a Wednesday, NSE closed
    assert DhanConnection(0, settings, ShardPlan(), lambda f, t: None, clock=evening)._watchdog_active() is active
