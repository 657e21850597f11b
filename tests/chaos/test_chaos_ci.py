"""Short chaos run (CI): real sim, feed, writer and monitor processes under the supervisor on a private
redis-server with AOF and a private database; feed SIGKILL, writer SIGKILL, a Redis restart, malformed frames
and a Dhan 805 disconnect, each followed by recovery without a hand (new pids heartbeating, trades flowing
again, no alert active); then ``dhan verify``'s check finds every journaled trade in MySQL exactly once, and
the killed feed and the disconnect are closed bands in the gap ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.chaos import CI_FAULTS, run_chaos
from shared.settings import Settings


@pytest.mark.timeout(600)
async def test_short_chaos_run_loses_and_duplicates_nothing(db_settings: Settings, tmp_path: Path) -> None:
    result = await run_chaos(db_settings, tmp_path / "chaos", CI_FAULTS, sim_rate=300.0, min_trades=100)
    table = result.table()
    assert [r.fault for r in result.faults] == CI_FAULTS
    assert all(r.events > 0 for r in result.faults), table
    assert result.trades > 100, result.lines
    assert (result.missing, result.duplicated) == (0, 0), result.lines
    assert result.problems == 0, result.lines
    disconnect = result.faults[CI_FAULTS.index("dhan disconnect 805")]
    assert disconnect.fired >= 1 and disconnect.resolved >= 1, table  # feed_disconnected raised and cleared
    assert result.closed_gaps.get("disconnect", 0) >= 2, result.closed_gaps  # the SIGKILLed feed and the 805
