"""Status of the running system (Qt-free): heartbeats, stream lag, table rows; plain and rich renderers."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from rich.console import Group
from rich.live import Live
from rich.table import Table

from control.stack.readiness import heartbeat_is_childs
from shared.bus import connect_redis
from shared.db import close_pool, create_pool
from shared.keys import STREAM_KINDS, Keys
from shared.settings import Settings

__all__ = ["TABLES", "StackStatus", "budget_line", "pick_rate", "render_plain", "render_rich"]

TABLES = ("dhan_instruments", "dhan_quotes", "dhan_ticks", "dhan_depth", "dhan_options_greeks", "dhan_trade_summary")
_RATE_FIELDS = ("published_per_s", "entries_per_s", "rows_per_s", "greeks_per_s", "packets_per_s", "quotes_per_s")


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def budget_line(hb: dict[str, str]) -> str:
    """The feed's Dhan connection budget from its heartbeat: ``Dhan sockets 3/5 (live 1, depth20 1, depth200 1);
    per conn 150/5,000``, with what did not fit; "" for a heartbeat without it (an older feed)."""
    used, limit = _num(hb.get("budget_used", "")), _num(hb.get("budget_limit", ""))
    if used is None or limit is None:
        return ""
    parts = [f"live {hb.get('budget_main', '?')}"]
    for feed in ("depth20", "depth200"):
        if (_num(hb.get(f"budget_{feed}", "")) or 0) > 0:
            parts.append(f"{feed} {hb[f'budget_{feed}']}")
    load, cap = _num(hb.get("budget_per_conn_max", "")), _num(hb.get("budget_per_conn_limit", ""))
    text = f"Dhan sockets {used:.0f}/{limit:.0f} ({', '.join(parts)})"
    if load is not None and cap is not None:
        text += f"; per conn {load:,.0f}/{cap:,.0f}"
    short = [f"{n:.0f} {what} unfunded" for what, n in
             (("depth20", _num(hb.get("depth20_unfunded", ""))), ("depth200", _num(hb.get("depth200_unfunded", ""))))
             if n]
    return text + (f"; {', '.join(short)}" if short else "")


def pick_rate(hb: dict[str, str]) -> str:
    for f in _RATE_FIELDS:
        v = _num(hb.get(f))
        if v is not None:
            return f"{v:,.0f}/s"
    return ""


def pick_errors(hb: dict[str, str]) -> int:
    total = 0
    for k, v in hb.items():
        if ("error" in k or "fail" in k or k in ("bad_packets", "dead_letters")) and not k.endswith("_at"):
            n = _num(v)
            if n is not None:
                total += int(n)
    return total


class StackStatus:
    """Polls Redis and MySQL for what the status screen shows."""

    def __init__(self, settings: Settings, keys: Keys, supervisor: Any = None) -> None:
        self.settings = settings
        self.keys = keys
        self.supervisor = supervisor
        self.step = "starting"
        self.redis: aioredis.Redis | None = None
        self.heartbeats: dict[str, dict[str, str]] = {}
        self.streams: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, int | None] = dict.fromkeys(TABLES)
        self._rows_at = 0.0
        self._pool: Any = None
        self.db_error = ""

    async def open(self) -> None:
        self.redis = await connect_redis(self.settings, decode=True)
        try:
            self._pool = await create_pool(self.settings, maxsize=1)
        except Exception as exc:
            self.db_error = str(exc)[:200]

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        if self._pool is not None:
            await close_pool(self._pool)

    async def refresh(self) -> None:
        assert self.redis is not None
        try:
            hbs: dict[str, dict[str, str]] = {}
            async for key in self.redis.scan_iter(match=self.keys.svc_pattern, count=200):
                hb = await self.redis.hgetall(key)
                if hb:
                    hbs[key[len(self.keys.svc("")):]] = cast(dict[str, str], hb)  # a decode=True client
            self.heartbeats = hbs
            streams: dict[str, dict[str, Any]] = {}
            for kind in STREAM_KINDS:
                name = self.keys.stream(kind)
                info: dict[str, Any] = {"length": await self.redis.xlen(name)}
                try:
                    for g in await self.redis.xinfo_groups(name):
                        info[f"lag_{g['name']}"] = g.get("lag")
                        info[f"pending_{g['name']}"] = g.get("pending")
                except RedisError:
                    pass
                streams[kind] = info
            self.streams = streams
        except (RedisError, OSError) as exc:
            self.heartbeats = {"redis": {"state": f"unreachable: {exc}"}}
        if self._pool is not None and time.monotonic() - self._rows_at > 3:
            self._rows_at = time.monotonic()
            try:
                async with self._pool.acquire() as conn, conn.cursor() as cur:
                    for t in TABLES:
                        await cur.execute(f"SELECT COUNT(*) FROM {t}")
                        self.rows[t] = int((await cur.fetchone())[0])
                    await conn.commit()
                self.db_error = ""
            except Exception as exc:
                self.db_error = str(exc)[:200]

    @staticmethod
    def detail(name: str, hb: dict[str, str]) -> str:
        """One line of what matters per service, from its heartbeat."""
        def f(key: str) -> str:
            return hb.get(key, "")
        if not hb:
            return ""
        if name.startswith("feed"):
            age = _num(f("last_frame_age_s"))
            line = (f"{f('instruments')} instruments, {f('connections_up')}/{f('connections')} conn up, "
                    f"last data {age:.1f}s ago" if age is not None else f"{f('instruments')} instruments")
            budget = budget_line(hb)
            return f"{line}; {budget}" if budget else line
        if name.startswith("writer"):
            return (f"batch {f('batch_size')} in {f('batch_commit_ms')} ms, ticks {f('rows_ticks_per_s')}/s, "
                    f"pool {f('pool_in_use')}/{f('pool_size')}")
        if name.startswith("greeks"):
            return (f"{f('greeks_per_s')} greeks/s, {f('options_covered')}/{f('options')} options, "
                    f"{f('unsolved')} unsolved")
        if name.startswith("sim"):
            return f"{f('connections')} client(s), {f('subscribed')} subscribed"
        return f("step")

    def service_rows(self) -> list[tuple[str, str, str, str, str, str, str]]:
        """(service, state, pid, rate, lag, errors, detail) per service: supervisor state + heartbeat figures.

        With a supervisor, only its children are shown, each with a heartbeat only when that heartbeat is its
        current process's (its pid): another run's services on the same prefix never mix in."""
        names = list(self.supervisor.children) if self.supervisor is not None else list(self.heartbeats)
        now = time.time()
        out = []
        for name in names:
            hb = self.heartbeats.get(name, {})
            child = self.supervisor.children.get(name) if self.supervisor is not None else None
            if child is not None and not heartbeat_is_childs(hb, child):
                hb = {}
            state = hb.get("state", "")
            updated = _num(hb.get("updated_at"))
            if child is not None and child.state in ("crashed", "stopped", "stopping", "exited"):
                state = child.state + (f" ({child.exit_code})" if child.exit_code not in (None, 0) else "")
            elif updated is not None and now - updated > 5 * self.settings.service.heartbeat_interval_s:
                state = "stale heartbeat"
            elif not hb:
                state = "starting"
            lag = hb.get("lag", hb.get("lag_total", ""))
            pid = hb.get("pid", str(child.pid) if child and child.pid else "")
            if child is not None and child.restarts:
                state += f" r{child.restarts}"
            out.append((name, state, str(pid), pick_rate(hb), str(lag), str(pick_errors(hb)) if hb else "",
                        self.detail(name, hb)))
        return out


async def _tick(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False


def _deadline_passed(started: float, duration: float | None) -> bool:
    return duration is not None and time.monotonic() - started >= duration


async def render_plain(status: StackStatus, stop: asyncio.Event, duration: float | None) -> None:
    started = time.monotonic()
    last_print = 0.0
    while not stop.is_set() and not _deadline_passed(started, duration):
        await status.refresh()
        if time.monotonic() - last_print >= 5:
            last_print = time.monotonic()
            svc = "  ".join(f"{n}:{s} {r}".strip() for n, s, _, r, _, _, _ in status.service_rows())
            rows = " ".join(f"{t.removeprefix('dhan_')}={v if v is not None else '?'}" for t, v in status.rows.items())
            print(f"[{time.strftime('%H:%M:%S')}] {svc} | rows {rows}", flush=True)
        if await _tick(stop, 1.0):
            break


async def render_rich(status: StackStatus, stop: asyncio.Event, duration: float | None) -> None:
    def build() -> Group:
        svc = Table(title=f"dhan-trading - {status.step}", expand=True)
        for col in ("service", "state", "pid", "rate", "lag", "errors", "detail"):
            svc.add_column(col)
        for row in status.service_rows():
            svc.add_row(*row)
        streams = Table(title="Redis streams", expand=True)
        for col in ("stream", "length", "writer lag", "writer pending", "greeks lag"):
            streams.add_column(col)
        for kind, info in status.streams.items():
            streams.add_row(kind, f"{info.get('length', 0):,}", str(info.get("lag_writer", "")),
                            str(info.get("pending_writer", "")), str(info.get("lag_greeks", "")))
        rows = Table(title="MySQL rows" + (f" ({status.db_error})" if status.db_error else ""))
        for col in ("table", "rows"):
            rows.add_column(col)
        for t, v in status.rows.items():
            rows.add_row(t, f"{v:,}" if v is not None else "?")
        return Group(svc, streams, rows)

    started = time.monotonic()
    with Live(build(), refresh_per_second=2, screen=False) as live:
        while not stop.is_set() and not _deadline_passed(started, duration):
            await status.refresh()
            live.update(build())
            if await _tick(stop, 1.0):
                break
