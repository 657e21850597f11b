"""Short chaos run (CI): an 8,000-frame session recorded first (simulator and feed only), then replayed by
``dhan replay`` into real feed, writer and monitor processes under the supervisor on a private redis-server
with AOF and a private database; feed SIGKILL, writer SIGKILL, a Redis restart, malformed frames and a Dhan
805 disconnect, each followed by recovery without a hand (new pids heartbeating, trades flowing again, no
alert active); then ``dhan verify``'s check finds every journaled trade in MySQL exactly once, counted in
each fault's window, and the killed feed and the disconnect are closed bands in the gap ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.chaos.faults import CI_FAULTS
from control.chaos.harness import run_chaos
from control.chaos.windows import AFTER, BEFORE
from shared.settings import Settings

RECORD_FRAMES = 8_000


@pytest.mark.timeout(600)
async def test_short_chaos_run_loses_and_duplicates_nothing(db_settings: Settings, tmp_path: Path) -> None:
    result = await run_chaos(db_settings, tmp_path / "chaos", CI_FAULTS, record_frames=RECORD_FRAMES, rate=220.0,
                             min_trades=100)
    table = result.table()
    assert [r.fault for r in result.faults] == CI_FAULTS
    assert [w.name for w in result.windows] == [BEFORE, *CI_FAULTS, AFTER]
    for r in result.faults:
        assert r.events > 0 and (r.lost, r.duplicated) == (0, 0), table
    # the windows tile the run: every journaled trade is in exactly one row
    assert sum(w.events for w in result.windows) == result.trades > 100, table
    assert (result.missing, result.duplicated) == (0, 0), result.lines
    # every stored trade is in the journal too: the SIGKILLed feed's last frames came back from its write-ahead file
    assert result.extra == 0, result.lines
    assert result.problems == 0, result.lines
    # the stack's market was the recording, served to its end by the replay server
    assert result.recording is not None and result.recording.frames >= RECORD_FRAMES
    assert result.replay["replay_finished"] and result.replay["frames_routed"] > RECORD_FRAMES // 2, result.replay
    disconnect = result.faults[CI_FAULTS.index("dhan disconnect 805")]
    assert disconnect.fired >= 1 and disconnect.resolved >= 1, table  # feed_disconnected raised and cleared
    assert result.closed_gaps.get("disconnect", 0) >= 2, result.closed_gaps  # the SIGKILLed feed and the 805
