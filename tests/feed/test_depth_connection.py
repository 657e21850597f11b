"""The depth sockets' connection: Dhan's depth URLs and query, and the live feed's stall watchdog rules (a quiet
depth socket outside market hours is normal)."""

from __future__ import annotations

import orjson
import pytest

from feed.fulldepth.connection import DepthConnection
from feed.protocol.requests import parse_depth_request
from shared.settings import mask_url
from tests.clocks import PinnedClock, ist
from tests.conftest import make_settings


def test_urls_follow_dhans_depth_endpoints_or_the_simulators_or_the_settings() -> None:
    dhan = make_settings(client_id="1100000001", access_token="tok-secret")
    c20 = DepthConnection(0, dhan, 20, lambda f, t: None)
    assert c20.url() == ("wss://depth-api-feed.dhan.co/twentydepth?token=tok-secret&clientId=1100000001&authType=2")
    assert DepthConnection(0, dhan, 200, lambda f, t: None).url().startswith("wss://full-depth-api.dhan.co/?token=")
    assert "tok-secret" not in mask_url(c20.url())
    sim = make_settings(sim_port=9123)
    assert DepthConnection(1, sim, 20, lambda f, t: None).url() == (
        "ws://127.0.0.1:9123/twentydepth?token=simulator&clientId=simulator&authType=2")
    assert DepthConnection(0, sim, 200, lambda f, t: None).url().startswith("ws://127.0.0.1:9123/twohundreddepth?")
    given = make_settings(depth20_url="ws://example.test/d20?x=1")
    assert DepthConnection(0, given, 20, lambda f, t: None).url().startswith("ws://example.test/d20?x=1&token=")


@pytest.mark.parametrize(("when", "active"), [
    (ist(2026, 6, 2, 11, 0), True),
    (ist(2026, 6, 2, 20, 0), False),  # NSE closed: a silent depth socket is no stall
    (ist(2026, 12, 25, 11, 0), False),  # an NSE holiday
], ids=["11:00", "20:00", "holiday"])
def test_the_stall_watchdog_sleeps_outside_nse_hours(when: float, active: bool) -> None:
    settings = make_settings(client_id="1", access_token="t", mcx_enabled=True)  # MCX's evening is no NSE session
    assert DepthConnection(0, settings, 20, lambda f, t: None, clock=PinnedClock(when))._watchdog_active() is active


def test_requests_are_fifty_a_frame_at_20_levels_and_inline_at_200() -> None:
    settings = make_settings()
    keys = [("NSE_FNO", 40000 + i) for i in range(120)]
    frames = [orjson.loads(f) for f in DepthConnection(0, settings, 20, lambda f, t: None).requests(keys)]
    assert [(f["RequestCode"], f["InstrumentCount"]) for f in frames] == [(23, 50), (23, 50), (23, 20)]
    assert frames[2]["InstrumentList"][-1] == {"ExchangeSegment": "NSE_FNO", "SecurityId": "40119"}
    c200 = DepthConnection(0, settings, 200, lambda f, t: None)
    assert [orjson.loads(f) for f in c200.requests([("NSE_EQ", 1333)])] == [
        {"RequestCode": 23, "ExchangeSegment": "NSE_EQ", "SecurityId": "1333"}]
    [off] = c200.requests([("NSE_EQ", 1333)], subscribe=False)
    assert parse_depth_request(off, 200).instruments == (("NSE_EQ", 1333),)  # the simulator takes it too
