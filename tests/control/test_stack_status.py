"""``dhan up``'s status screen shows only its own children, each with a heartbeat only when it is that
child's current process's: another run's heartbeats on the same prefix never mix in."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from control.center.service_rows import ProcessFigures, build_rows
from control.stack.status import StackStatus
from control.stack.supervisor import ChildSpec, Supervisor
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import make_settings

HOST = socket.gethostname()


def _beat(pid: int, **fields: str) -> dict[str, str]:
    return {"pid": str(pid), "host": HOST, "state": "running", "updated_at": str(time.time()),
            "packets_per_s": "50", **fields}


def _status(tmp_path: Path, settings: Settings) -> tuple[StackStatus, Supervisor]:
    sup = Supervisor(tmp_path)
    sup.add(ChildSpec("sim", ("sim",)))
    sup.add(ChildSpec("feed", ("feed",)))
    return StackStatus(settings, Keys(settings.redis.key_prefix), sup), sup


def test_a_heartbeat_of_another_process_is_not_shown_for_a_child(tmp_path: Path) -> None:
    status, sup = _status(tmp_path, make_settings())
    sim = sup.children["sim"]
    sim.state, sim.pid = "running", 4242
    status.heartbeats = {"sim": _beat(999), "monitor": _beat(1000)}   # the first run's sim, someone's monitor
    rows = {r[0]: r for r in status.service_rows()}
    assert set(rows) == {"sim", "feed"}
    assert rows["sim"][1:4] == ("starting", "4242", "")


def test_the_childs_own_heartbeat_is_shown(tmp_path: Path) -> None:
    status, sup = _status(tmp_path, make_settings())
    sim = sup.children["sim"]
    sim.state, sim.pid = "running", 4242
    status.heartbeats = {"sim": _beat(4242)}
    rows = {r[0]: r for r in status.service_rows()}
    assert rows["sim"][1:4] == ("running", "4242", "50/s")


def test_a_crashed_child_shows_no_live_rate_from_another_run(tmp_path: Path) -> None:
    status, sup = _status(tmp_path, make_settings())
    sim = sup.children["sim"]
    sim.state, sim.pid, sim.exit_code = "crashed", None, 2
    status.heartbeats = {"sim": _beat(999)}
    rows = {r[0]: r for r in status.service_rows()}
    assert rows["sim"][1:4] == ("crashed (2)", "", "")


def test_control_center_row_of_a_starting_child_shows_no_figures_of_another_process(tmp_path: Path) -> None:
    from control.center.catalog import catalog

    s = make_settings()
    sup = Supervisor(tmp_path)
    sup.add(ChildSpec("sim", ("sim",)))
    sim = sup.children["sim"]
    sim.state, sim.pid, sim.started_at = "running", 4242, time.time()
    entries = [e for e in catalog(s) if e.name == "sim"]
    rows = build_rows(entries, sup.children, {"sim": _beat(999)}, time.time(), 5.0, ProcessFigures())
    assert (rows[0].state, rows[0].where, rows[0].rate, rows[0].detail) == ("starting", "pid 4242", "", "")
