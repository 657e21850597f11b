"""Fuzzing the subscription parser: property-based (hypothesis) and mutation fuzzing of ``parse_request``, and
the same mutants over a real WebSocket into the simulator and the replay server.

CI runs a few hundred cases of each; ``DHAN_FUZZ_LONG=1`` runs a million mutants in-process and 200,000 over
each WebSocket (by hand: ``DHAN_FUZZ_LONG=1 .venv/bin/pytest tests/reliability/test_fuzz_requests.py -s``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.audit.replay import ReplayServer
from feed.journal import Journal
from feed.protocol.constants import SEGMENT_BY_NAME, RequestCode
from feed.protocol.encode import pack_prev_close
from feed.protocol.requests import build_requests, parse_request
from feed.sim import SimServer
from feed.sim.connection import SimConnection
from shared.settings import Settings
from tests.conftest import eventually, make_settings

from .fuzzing import classify, known_bug, mutant, run_cases, seeds

LONG = os.environ.get("DHAN_FUZZ_LONG") == "1"
IN_PROCESS_CASES = 1_000_000 if LONG else 400
WS_CASES = 200_000 if LONG else 300
HYPOTHESIS_EXAMPLES = 20_000 if LONG else 300
TIMEOUT_S = 3600 if LONG else 120
_HYP = settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ids = st.one_of(st.integers(min_value=-(2**40), max_value=2**40), st.text(max_size=12),
                 st.text(alphabet=st.characters(categories=("Nd", "No")), min_size=1, max_size=4),
                 st.text(alphabet="0123456789", min_size=1, max_size=12), st.none(), st.booleans(),
                 st.floats(allow_nan=True))
_ascii_ids = st.one_of(st.integers(min_value=-(2**40), max_value=2**40),
                       st.text(alphabet=st.characters(max_codepoint=127), max_size=12),
                       st.text(alphabet="0123456789", min_size=1, max_size=12), st.none(), st.booleans())
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=4), max_leaves=12)


def _requests(ids: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    item = st.fixed_dictionaries({}, optional={
        "ExchangeSegment": st.one_of(st.sampled_from(list(SEGMENT_BY_NAME)), st.text(max_size=10), _json),
        "SecurityId": ids, "Extra": _json})
    return st.fixed_dictionaries({}, optional={
        "RequestCode": st.one_of(st.sampled_from([int(c) for c in RequestCode]), st.integers(), _json),
        "InstrumentCount": st.one_of(st.integers(min_value=-2, max_value=200), _json),
        "InstrumentList": st.one_of(st.lists(st.one_of(item, _json), max_size=105), _json)})


@pytest.mark.timeout(TIMEOUT_S)
@_HYP
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300), _json.map(json.dumps)))
def test_arbitrary_input_is_accepted_or_rejected_never_raised(frame: Any) -> None:
    outcome = classify(frame)
    assert outcome in ("accepted", "rejected"), (outcome, frame)


@pytest.mark.timeout(TIMEOUT_S)
@_HYP
@given(_requests(_ascii_ids))
def test_request_shaped_json_is_accepted_or_rejected(obj: dict[str, Any]) -> None:
    assert classify(json.dumps(obj)) in ("accepted", "rejected"), obj


@pytest.mark.timeout(TIMEOUT_S)
@_HYP
@given(st.sampled_from([15, 16, 17, 18, 21, 22]),
       st.lists(st.tuples(st.sampled_from(list(SEGMENT_BY_NAME)), _ids), min_size=1, max_size=3))
def test_any_security_id_text_is_rejected_not_raised(code: int, items: list[tuple[str, Any]]) -> None:
    obj = {"RequestCode": code, "InstrumentList": [{"ExchangeSegment": s, "SecurityId": i} for s, i in items]}
    try:
        parse_request(json.dumps(obj))
    except ValueError as exc:
        if type(exc).__name__ != "RequestError":
            raise


@pytest.mark.timeout(TIMEOUT_S)
@given(st.lists(st.tuples(st.sampled_from(list(SEGMENT_BY_NAME)), st.integers(0, 2**32 - 1)), min_size=1,
                max_size=250), st.sampled_from(["ticker", "quote", "full"]), st.booleans())
@settings(max_examples=200 if not LONG else 5000, deadline=None)
def test_built_requests_parse_back_to_the_same_instruments(items: list[tuple[str, int]], mode: str,
                                                           subscribe: bool) -> None:
    parsed = [parse_request(f) for f in build_requests(items, mode, subscribe=subscribe)]
    assert [i for r in parsed for i in r.instruments] == items
    assert all(r.mode == mode and r.is_subscribe == subscribe for r in parsed)


@pytest.mark.timeout(TIMEOUT_S)
def test_mutants_are_accepted_or_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes, escaped = run_cases(IN_PROCESS_CASES)
    with capsys.disabled():
        print(f"\nparse_request mutation fuzz: {IN_PROCESS_CASES} cases: {dict(outcomes)}")
    assert not escaped, escaped
    assert outcomes["rejected"] > IN_PROCESS_CASES // 2 and outcomes["accepted"] > 0


# --- over a real WebSocket ---
class CountingSim(SimServer):
    """The simulator, counting every request frame its handler saw (it logs bad ones once per reason)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.seen = 0
        self.bad = 0

    def _on_request(self, conn: SimConnection, text: str) -> bool:
        self.seen += 1
        if classify(text) != "accepted":
            self.bad += 1
        return super()._on_request(conn, text)


KNOWN_BUG_FRAME = ("{\"RequestCode\": 15, \"InstrumentList\": [{\"ExchangeSegment\": \"IDX_I\", "
                   "\"SecurityId\": \"\u00b2\"}]}")


def _ws_mutants(n: int) -> tuple[list[str], int]:
    """Text frames (as a client sends them: UTF-8 text) and how many of them are bad; never a disconnect.
    The frame that once ended the simulator's connection (``known_bug``) is always among them."""
    rng = random.Random(7)
    pool = seeds(rng)
    out: list[str] = [KNOWN_BUG_FRAME]
    bad = 1
    while len(out) < n:
        text = mutant(rng, pool).decode("utf-8", errors="replace")
        kind = classify(text)
        if kind == "accepted" and parse_request(text).code == RequestCode.DISCONNECT:
            continue  # a valid disconnect closes the socket by design
        bad += kind != "accepted"
        out.append(text)
    return out, bad


async def _fuzz_socket(url: str, frames: list[str]) -> aiohttp.ClientWebSocketResponse:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(url + "?version=2&token=fuzz&clientId=1&authType=2")
    ws._fuzz_session = session  # type: ignore[attr-defined]

    async def drain() -> None:  # read what the server sends for the subscriptions that were valid
        async for _ in ws:
            pass
    ws._fuzz_reader = asyncio.create_task(drain())  # type: ignore[attr-defined]
    for i, text in enumerate(frames):
        await ws.send_str(text)
        if i % 500 == 499:
            await asyncio.sleep(0)
    return ws


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._fuzz_reader  # type: ignore[attr-defined]
    await ws._fuzz_session.close()  # type: ignore[attr-defined]


@pytest.mark.timeout(TIMEOUT_S)
async def test_simulator_survives_and_sees_every_bad_frame() -> None:
    frames, bad = _ws_mutants(WS_CASES)
    assert known_bug(frames[0])
    async with CountingSim(make_settings(sim_rate=50.0)) as sim:
        ws = await _fuzz_socket(sim.url, frames)
        sentinel = build_requests([("IDX_I", 25)], "ticker")[0]
        await ws.send_str(sentinel)
        await eventually(lambda: sim.seen == len(frames) + 1, timeout_s=TIMEOUT_S / 2,
                         message="every frame handled")
        assert sim.bad == bad > len(frames) // 2
        assert sim.stats()["connections"] == 1 and not ws.closed  # no exception ended the connection
        assert any(c["subscribed"] for c in sim.stats()["clients"])
        await _close(ws)


@pytest.mark.timeout(TIMEOUT_S)
async def test_replay_server_counts_every_bad_frame(tmp_path: Path) -> None:
    settings = make_settings(journal_dir=tmp_path)
    journal = Journal(settings)
    await journal.start()
    journal.append(pack_prev_close(0, 13, 26000.0, 0), 1.0e9)
    await journal.stop()
    assert journal.path is not None
    frames, bad = _ws_mutants(WS_CASES)
    async with ReplayServer(settings, [journal.path], speed=None) as server:
        ws = await _fuzz_socket(server.url, frames)
        await eventually(lambda: server.bad_requests == bad, timeout_s=TIMEOUT_S / 2,
                         message="every bad frame counted")
        await ws.send_str(build_requests([("IDX_I", 13)], "ticker")[0])
        await eventually(lambda: ("IDX_I", 13) in _subscribed(server), timeout_s=10)
        assert server.stats()["connections"] == 1 and not ws.closed
        await _close(ws)


def _subscribed(server: ReplayServer) -> set[tuple[str, int]]:
    names = {v: k for k, v in SEGMENT_BY_NAME.items()}
    return {(names[seg], sid) for c in server._conns.values() for seg, sid in c.subs}
