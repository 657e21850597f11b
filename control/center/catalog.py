"""What the Control Center manages: every service and visualizer, how to launch it, in which order.

``kind`` "service" has a heartbeat (``Service`` subclasses); "window" is a visualizer process, seen only
while the Control Center runs it (no heartbeat). ``in_start_all``: Start All launches it (windows are on
demand). When the Control Center runs the scheduler it runs it in ``control`` mode, so that the scheduler
asks the Control Center to start and stop feed and writer instead of running a second copy of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from control.stack.supervisor import ChildSpec
from shared.cli import _available
from shared.settings import Settings

__all__ = ["START_ORDER", "STOP_ORDER", "VIZ_WINDOWS", "Entry", "affected_services", "catalog", "child_spec"]

VIZ_WINDOWS = ("volume-profile", "market-breadth", "tick-chart", "volume-profile-chart", "quote-board",
               "option-chain", "depth", "oi", "straddle", "footprint")
START_ORDER = ("sim", "writer", "feed", "greeks", "monitor", "scheduler")
STOP_ORDER = ("scheduler", "feed", "greeks", "writer", "monitor", "sim")


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    args: tuple[str, ...]
    kind: str = "service"            # service | window
    in_start_all: bool = True
    env: tuple[tuple[str, str], ...] = ()
    available: bool = True           # its command exists in this build

    @property
    def is_window(self) -> bool:
        return self.kind == "window"


def _command_available(name: str) -> bool:
    return _available(name)


def catalog(settings: Settings) -> list[Entry]:
    """Services in start order (sim only without a Dhan token), then the visualizers."""
    out: list[Entry] = []
    for name in START_ORDER:
        if name == "sim" and not settings.use_simulator:
            continue
        env = (("DHAN_SCHEDULER_MODE", "control"),) if name == "scheduler" else ()
        out.append(Entry(name, (name,), env=env, available=_command_available(name)))
    viz_ok = _command_available("viz")
    for win in VIZ_WINDOWS:
        out.append(Entry(f"viz {win}", ("viz", win), kind="window", in_start_all=False, available=viz_ok))
    return out


def child_spec(entry: Entry, extra_env: dict[str, str], *, auto_restart: bool = True) -> ChildSpec:
    # Windows are not restarted on failure: a closed window exits 0, a broken one would flap.
    return ChildSpec(entry.name.replace(" ", "-"), entry.args,
                     restart_on_failure=auto_restart and not entry.is_window, env={**extra_env, **dict(entry.env)})


_PREFIX_SERVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sim_", ("sim", "feed")),
    ("writer_", ("writer",)),
    ("monitor_", ("monitor",)),
    ("scheduler_", ("scheduler",)),
    ("stream_maxlen_", ("feed", "greeks")),
    ("publish_", ("feed",)),
    ("reconnect_", ("feed",)),
)
_FIELD_SERVICES: dict[str, tuple[str, ...]] = {
    "client_id": ("feed", "sim"), "access_token": ("feed", "sim"), "feed_url": ("feed",),
    "instruments_url": ("feed",), "nifty_strikes": ("feed",), "banknifty_strikes": ("feed",),
    "futures_expiries": ("feed",), "include_indices": ("feed",), "include_nifty50": ("feed",),
    "mcx_enabled": ("feed", "monitor", "scheduler"), "feed_mode": ("feed",), "recentre_check_s": ("feed",),
    "stall_timeout_s": ("feed",), "spool_dir": ("feed",), "market_hours_only_watchdog": ("feed",),
    "risk_free_rate": ("greeks", "sim"),
    # the depth sockets (depth-feed branch)
    "depth20_enabled": ("feed",), "depth20_instruments": ("feed",), "depth200_instrument": ("feed",),
    "depth20_url": ("feed",), "depth200_url": ("feed",),
}
_EVERYONE = ("sim", "feed", "writer", "greeks", "monitor", "scheduler")


def affected_services(changed: set[str]) -> list[str]:
    """Services to restart after the settings ``changed`` (field names), in start order."""
    hit: set[str] = set()
    for name in changed:
        if name in _FIELD_SERVICES:
            hit.update(_FIELD_SERVICES[name])
            continue
        for prefix, services in _PREFIX_SERVICES:
            if name.startswith(prefix):
                hit.update(services)
                break
        else:                        # redis, key prefix, mysql, heartbeat, logging, health: everyone
            hit.update(_EVERYONE)
    return [n for n in START_ORDER if n in hit]
