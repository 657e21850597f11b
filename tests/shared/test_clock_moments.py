"""Guard: the tests of "today", the session and market hours pass at the IST clock's dangerous moments.

Each moment runs ``GUARDED`` in a pytest subprocess under libfaketime (``faketime``), so every wall-clock read
in the tests and in the code they drive sees it; the servers keep the real time (see ``real_clock_env``). These
tests pin their moments through injected clocks, so a failure here means a read of the wall clock for
"today" or market hours crept back into them or their code. A new test of such code belongs in ``GUARDED``;
``scripts/clock_sweep.py`` runs whole folders at more moments (00:01 IST is where the list began).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MOMENTS = {  # UTC; IST = UTC + 5:30. Tuesday 8 Dec 2026 is a NIFTY weekly expiry.
    "23:59 IST Mon": "2026-12-07 18:29:00 UTC",  # the run crosses midnight into an expiry day
    "00:01 IST Tue": "2026-12-07 18:31:00 UTC",  # an expiry day began a minute ago, the UTC day did not
}
GUARDED = [
    "tests/viz/test_windows_price.py::test_price_windows_show_todays_gaps_from_the_ledger",
    "tests/viz/test_windows_latest.py::test_option_chain_defaults_to_the_nearest_expiry_not_past_on_the_ist_day",
    "tests/viz/test_gap_bands_windows.py",
    "tests/viz/test_pipeline.py",
    "tests/control/test_gaps_tab.py",
    "tests/control/test_scheduler_service.py::test_the_missing_holiday_list_is_the_ist_years",
    "tests/control/test_scheduler_service.py::test_control_mode_publishes_commands_and_market_status",
    "tests/control/test_monitor_live.py::test_no_ticks_in_market_hours_only",
    "tests/writer/test_schema.py::test_the_running_writer_adds_the_partitions_of_its_clocks_ist_month",
    "tests/feed/test_greeks_vs_sim.py::test_end_to_end_from_the_simulator",
    "tests/writer/test_oi_close.py",  # the closing OI's IST day and the previous session before "today"
    "tests/viz/test_oi_window.py",
    "tests/viz/test_straddle_window.py",
]
TIMEOUT_S = 240.0


def _run_at(utc_start: str) -> subprocess.CompletedProcess[str]:
    cmd = ["faketime", utc_start, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *GUARDED]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.skipif(shutil.which("faketime") is None, reason="faketime not installed (apt-get install -y faketime)")
@pytest.mark.skipif("FAKETIME" in os.environ, reason="already under faketime")
def test_time_sensitive_tests_pass_at_the_edges_of_the_ist_day() -> None:
    with ThreadPoolExecutor(len(MOMENTS)) as pool:  # both moments at once: the subprocesses mostly wait on I/O
        results = dict(zip(MOMENTS, pool.map(_run_at, MOMENTS.values()), strict=True))
    failed = {name: r for name, r in results.items() if r.returncode != 0}
    report = "\n".join(f"--- at {name}:\n" + "\n".join(r.stdout.splitlines()[-25:] + r.stderr.splitlines()[-10:])
                       for name, r in failed.items())
    assert not failed, f"time-sensitive tests failed under faketime at {', '.join(failed)}:\n{report}"
