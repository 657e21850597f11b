"""dhan chaos's depth fault: the replayed stack's 20-level socket dropped, every book fresh again within the
depth store's one-second sampling interval (no sample lost), and the run otherwise clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from control.chaos.depth import DEPTH_SAMPLE_S
from control.chaos.harness import run_chaos
from shared.settings import Settings

FAULT = "dhan depth drop (books within 1 s)"


@pytest.mark.timeout(600)
async def test_a_dropped_depth_socket_loses_no_sample(db_settings: Settings, tmp_path: Path) -> None:
    with capture_logs() as logs:
        result = await run_chaos(db_settings, tmp_path / "chaos", [FAULT], record_frames=6_000, rate=220.0,
                                 min_trades=100)
    table = result.table()
    [fault] = result.faults
    assert fault.fault == FAULT and (fault.lost, fault.duplicated) == (0, 0), table
    [gap] = [e for e in logs if e.get("event") == "chaos_depth_gap"]
    assert gap["instruments"] == 22 and 0 < gap["gap_s"] < DEPTH_SAMPLE_S, gap  # the auto set, centred
    assert result.replay["depth_frames_read"] > 0 and result.replay["depth_packets_routed"] > 0, result.replay
    assert (result.missing, result.duplicated, result.problems) == (0, 0, 0), result.lines
