"""Alert rules (pure): a :class:`~control.monitor.snapshot.Snapshot` in, the conditions that hold now out.

Each rule yields :class:`Condition` values with a de-duplication ``key`` (one alert per service, stream or
instrument), a severity and a ``hold_s`` the condition must last before it fires (see
:class:`control.monitor.alerts.AlertBook`). :class:`Rules` keeps the little memory some rules need: which
services it has seen running (a heartbeat that vanishes after that is a crash), since when the market has
been open and since when instrument data arrives; how long a condition has held is the alert book's business.

Rules: ``redis_unreachable`` (down now, or a connection of the monitor cut since the last evaluation),
``service_down`` (crashed, stale or vanished heartbeat), ``feed_disconnected``, ``spool_failing`` (the feed
cannot write its spool: events held in memory, dropped past its cap), ``db_write_failures``, ``mysql_down``,
``mysql_pool_exhausted``, ``redis_memory``, ``consumer_lag``, ``no_ticks`` and ``instrument_silent`` (the last
two only while the market is open).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from control.monitor.snapshot import Snapshot, num
from shared.calendar import TradingCalendar, session_exchanges
from shared.settings import Settings

__all__ = ["CRITICAL_SERVICES", "Condition", "Rules", "Thresholds", "market_open", "verdict"]

CRITICAL_SERVICES = frozenset({"feed", "writer"})
PEER_WINDOW_S = 60.0          # "peers tick": quoted within this window
SILENT_MAX_ALERTS = 20        # more silent instruments than this: one summary alert instead


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    rule: str
    severity: str          # critical | warning
    detail: str
    hold_s: float = 0.0
    service: str = ""


@dataclass(frozen=True, slots=True)
class Thresholds:
    stale_s: float = 5.0
    feed_disconnected_s: float = 60.0
    db_failures_per_min: float = 5.0
    redis_memory_pct: float = 80.0
    pool_exhausted_s: float = 10.0
    lag_max: int = 100_000
    no_ticks_s: float = 60.0
    instrument_silent_s: float = 300.0
    peers_active_pct: float = 50.0

    @classmethod
    def from_settings(cls, s: Settings) -> Thresholds:
        return cls(s.monitor.stale_s, s.monitor.feed_disconnected_s, s.monitor.db_failures_per_min,
                   s.monitor.redis_memory_pct, s.monitor.pool_exhausted_s, s.monitor.lag_max,
                   s.monitor.no_ticks_s, s.monitor.instrument_silent_s, s.monitor.peers_active_pct)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


class Rules:
    """Evaluates every rule on a snapshot; remembers what it has seen between calls."""

    def __init__(self, th: Thresholds) -> None:
        self.th = th
        self.last_state: dict[str, tuple[str, str, float]] = {}   # instance -> (name, state, when seen)
        self.market_open_since: float | None = None
        self.quotes_since: float | None = None                     # first snapshot with instrument data

    def evaluate(self, snap: Snapshot) -> list[Condition]:
        if not snap.redis_ok:
            return [Condition("redis_unreachable", "redis_unreachable", "critical",
                              f"Redis is not reachable: {snap.redis_error}")]
        if snap.market_open:
            self.market_open_since = self.market_open_since or snap.now
        else:
            self.market_open_since = None
        out = list(self._services(snap))
        if snap.redis_dropped:
            # an outage shorter than the evaluation interval (a Redis restart takes about a second) is seen
            # only as a cut connection; it still is one: pub/sub messages of that moment were lost
            out.append(Condition("redis_unreachable", "redis_unreachable", "critical",
                                 f"Redis was unreachable for a moment ({snap.redis_dropped}); it answers again"))
        out += self._feed(snap)
        out += self._writer_and_mysql(snap)
        out += self._redis_and_lag(snap)
        out += self._no_ticks(snap)
        out += self._silent(snap)
        return out

    # --- services ---
    def _services(self, snap: Snapshot) -> Iterator[Condition]:
        for inst, hb in snap.heartbeats.items():
            name, state = hb.get("name", inst), hb.get("state", "")
            age = snap.heartbeat_age_s(hb)
            sev = "critical" if name in CRITICAL_SERVICES else "warning"
            if state == "stopped":
                self.last_state.pop(inst, None)                  # a clean stop is not a crash
                continue
            self.last_state[inst] = (name, state, snap.now)
            if state == "crashed":
                yield Condition(f"service_down:{inst}", "service_down", sev,
                                f"{inst} crashed: {hb.get('error') or 'no error text'}", service=inst)
            elif age is not None and age > self.th.stale_s:
                yield Condition(f"service_down:{inst}", "service_down", sev,
                                f"{inst} heartbeat stale for {_ago(age)} (last state {state})", service=inst)
        for inst, (name, state, seen) in list(self.last_state.items()):
            if inst in snap.heartbeats:
                continue
            sev = "critical" if name in CRITICAL_SERVICES else "warning"
            what = "crashed" if state == "crashed" else f"heartbeat gone (last state {state})"
            yield Condition(f"service_down:{inst}", "service_down", sev,
                            f"{inst} {what}, last seen {_ago(snap.now - seen)} ago", service=inst)

    def _live(self, snap: Snapshot, name: str) -> Iterator[tuple[str, dict[str, str]]]:
        for inst, hb in snap.by_name(name):
            age = snap.heartbeat_age_s(hb)
            if hb.get("state") == "running" and (age is None or age <= self.th.stale_s):
                yield inst, hb

    def _feed(self, snap: Snapshot) -> Iterator[Condition]:
        for inst, hb in self._live(snap, "feed"):
            conns, up = num(hb.get("connections")), num(hb.get("connections_up"))
            if conns and up is not None and up < conns:
                yield Condition(f"feed_disconnected:{inst}", "feed_disconnected", "critical",
                                f"{inst}: {up:.0f} of {conns:.0f} Dhan connections up",
                                hold_s=self.th.feed_disconnected_s, service=inst)
            if hb.get("spool_failing") == "1":
                held = num(hb.get("buffered"), 0.0) or 0.0
                dropped = sum(num(hb.get(f"dropped_{k}"), 0.0) or 0.0 for k in ("quotes", "depth", "ticks"))
                yield Condition(f"spool_failing:{inst}", "spool_failing", "critical",
                                f"{inst}: spool cannot be written ({hb.get('spool_error') or 'error'}); "
                                f"{held:,.0f} events held in memory, {dropped:,.0f} dropped", service=inst)

    def _writer_and_mysql(self, snap: Snapshot) -> Iterator[Condition]:
        for inst, hb in self._live(snap, "writer"):
            fpm = num(hb.get("failures_per_min"), 0.0) or 0.0
            if fpm > self.th.db_failures_per_min:
                ok = "" if hb.get("mysql_ok", "1") != "0" else "; MySQL unavailable to the writer"
                yield Condition(f"db_write_failures:{inst}", "db_write_failures", "critical",
                                f"{inst}: {fpm:.0f} MySQL write failures in the last minute{ok}",
                                service=inst)
        if snap.mysql_ok is False:
            yield Condition("mysql_down", "mysql_down", "critical",
                            f"MySQL is not reachable: {snap.mysql_error}")
        for inst, hb in snap.heartbeats.items():
            size, used, waiting = (num(hb.get(f)) for f in ("pool_size", "pool_in_use", "pool_waiting"))
            if size and used is not None and used >= size and (waiting or 0) > 0:
                yield Condition(f"mysql_pool_exhausted:{inst}", "mysql_pool_exhausted", "warning",
                                f"{inst}: all {size:.0f} pooled MySQL connections busy, "
                                f"{waiting:.0f} waiting",
                                hold_s=self.th.pool_exhausted_s, service=inst)
        threads, limit = snap.mysql_threads, snap.mysql_max_connections
        if threads is not None and limit and threads >= limit - 1:
            yield Condition("mysql_pool_exhausted:server", "mysql_pool_exhausted", "warning",
                            f"MySQL server at {threads} of max_connections {limit}")

    def _redis_and_lag(self, snap: Snapshot) -> Iterator[Condition]:
        if snap.redis_maxmemory > 0:
            pct = 100.0 * snap.redis_used_memory / snap.redis_maxmemory
            if pct > self.th.redis_memory_pct:
                used_mib, max_mib = snap.redis_used_memory / 2**20, snap.redis_maxmemory / 2**20
                yield Condition("redis_memory", "redis_memory", "warning",
                                f"Redis memory {pct:.0f}% of maxmemory ({used_mib:.1f} of {max_mib:.1f} MiB)")
        for kind, info in snap.streams.items():
            for group, g in info.groups.items():
                if g.lag is not None and g.lag > self.th.lag_max:
                    yield Condition(f"consumer_lag:{kind}:{group}", "consumer_lag", "warning",
                                    f"group {group} is {g.lag:,} entries behind on {kind} "
                                    f"(bound {self.th.lag_max:,})")

    def _open_for(self, snap: Snapshot) -> float:
        return 0.0 if self.market_open_since is None else snap.now - self.market_open_since

    def _no_ticks(self, snap: Snapshot) -> Iterator[Condition]:
        if not snap.market_open or self._open_for(snap) < self.th.no_ticks_s:
            return
        ticks = snap.streams.get("ticks")
        age = ticks.age_s(snap.redis_now or snap.now) if ticks is not None else None
        if age is None or age > self.th.no_ticks_s:
            when = "ever" if age is None else f"for {_ago(age)}"
            yield Condition("no_ticks", "no_ticks", "critical",
                            f"no trade on the ticks stream {when} in market hours")

    def _silent(self, snap: Snapshot) -> Iterator[Condition]:
        if snap.last_seen and self.quotes_since is None:
            self.quotes_since = snap.now
        if not snap.market_open or self._open_for(snap) < self.th.instrument_silent_s:
            return
        watched_for = snap.now - self.quotes_since if self.quotes_since is not None else 0.0
        names = {k: str(v.get("symbol") or k) for k, v in snap.universe.items()}
        keys = set(snap.universe) or set(snap.last_seen)
        groups: dict[str, list[str]] = defaultdict(list)
        for k in keys:
            groups[k.split(":", 1)[0]].append(k)
        silent: list[tuple[str, float | None]] = []
        for members in groups.values():
            ages = {k: (snap.now - snap.last_seen[k]) if k in snap.last_seen else None for k in members}
            active = sum(1 for a in ages.values() if a is not None and a <= PEER_WINDOW_S)
            if len(members) < 2 or 100.0 * active / len(members) < self.th.peers_active_pct:
                continue                                       # the whole segment is quiet: not this rule
            for k, a in ages.items():
                if (a is None and watched_for > self.th.instrument_silent_s) or (
                        a is not None and a > self.th.instrument_silent_s):
                    silent.append((k, a))
        if len(silent) > SILENT_MAX_ALERTS:
            first = ", ".join(names.get(k, k) for k, _ in sorted(silent)[:5])
            yield Condition("instrument_silent:many", "instrument_silent", "warning",
                            f"{len(silent)} instruments silent while their peers tick (e.g. {first})")
            return
        for k, a in sorted(silent):
            yield Condition(f"instrument_silent:{k}", "instrument_silent", "warning",
                            f"{names.get(k, k)} ({k}) silent for {_ago(a)} while its peers tick",
                            service="feed")


def market_open(calendar: TradingCalendar, now_utc: float, settings: Settings) -> bool:
    """Market hours as the rules count them: a regular session of an exchange we trade, or always when
    ``monitor_market_hours`` is ``always`` (a simulator outside real hours)."""
    return settings.monitor.market_hours == "always" or calendar.is_open(now_utc, session_exchanges(settings))


def verdict(conditions: list[Condition]) -> tuple[str, str]:
    """Overall health: ``down`` on any critical condition, ``degraded`` on a warning, else ``healthy``."""
    critical = [c for c in conditions if c.severity == "critical"]
    if critical:
        return "down", _first(critical)
    if conditions:
        return "degraded", _first(conditions)
    return "healthy", "every rule passes"


def _first(conds: list[Condition]) -> str:
    return conds[0].detail + (f" (+{len(conds) - 1} more)" if len(conds) > 1 else "")
