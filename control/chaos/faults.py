"""The faults of a chaos run: each one ``async fault(env) -> None`` on a :class:`~control.chaos.target.ChaosEnv`.

Process faults SIGKILL a child's process group; server faults SIGKILL the private redis-server (AOF keeps
what was written) or mariadbd, or KILL the database's connections. Dhan-side faults go to the replay
server's ``POST /fault`` (the simulator's knobs); their recovery counts from the injection (it includes the
reconnect), and the run lets the feed's new connection become a good session before the next fault.
Dhan's 806-809 stop the feed for good (exit code 3, not restarted); the harness plays the operator who
starts it again. :data:`FAULTS` names them all in the order ``--full`` runs them; :data:`CI_FAULTS` is the
short set; :data:`MYSQL_RESTART` needs the private MariaDB.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from control.chaos.depth import dhan_depth_drop
from control.chaos.target import ChaosEnv
from shared.errors import AuthError

__all__ = ["CI_FAULTS", "FAULTS", "FULL_FAULTS", "MYSQL_RESTART", "Fault"]

Fault = Callable[[ChaosEnv], Awaitable[None]]
REDIS_OUTAGE_S = 30.0


async def kill_feed(env: ChaosEnv) -> None:
    await env.sigkill("feed")


async def kill_writer(env: ChaosEnv) -> None:
    await env.sigkill("writer")


async def kill_greeks(env: ChaosEnv) -> None:
    await env.sigkill("greeks")


async def restart_redis_aof(env: ChaosEnv) -> None:
    await env.redis.kill()
    await env.redis.start()


async def redis_down_30s(env: ChaosEnv) -> None:
    await env.redis.kill()
    await asyncio.sleep(REDIS_OUTAGE_S)  # the fault itself is the outage
    await env.redis.start()


async def mysql_restart(env: ChaosEnv) -> None:
    if env.mariadb is None:
        raise RuntimeError("chaos: 'mysql restart' needs the private MariaDB (dhan chaos --private-mariadb)")
    await env.mariadb.kill()
    await env.mariadb.start()


async def mysql_drop_connections(env: ChaosEnv) -> None:
    await env.drop_mysql_connections()


async def _dhan(env: ChaosEnv, **query: str) -> None:
    before = await env.connects()
    await env.sim_fault(**query)
    env.injected_at = time.monotonic()  # the reconnect below is recovery: recover_s counts from here
    await env.feed_reconnected(before)
    env.reconnected_at = time.monotonic()


async def dhan_disconnect_805(env: ChaosEnv) -> None:
    await _dhan(env, kind="disconnect", code="805")


async def dhan_disconnect_800(env: ChaosEnv) -> None:
    await _dhan(env, kind="disconnect", code="800")  # a code Dhan does not document: reconnect


async def _dhan_fatal(env: ChaosEnv, code: int) -> None:
    """806-809 (not subscribed, token expired, bad client id, auth failed): the feed must stop by itself with
    the auth exit code (3) and the supervisor must not restart it (a retry cannot fix a token); the operator's
    hand (a new token: the simulator accepts the same one) is the harness starting the feed again."""
    feed = env.sup.children["feed"]
    old = feed.pid
    await env.sim_fault(kind="disconnect", code=str(code))
    env.injected_at = time.monotonic()

    async def stopped() -> bool:
        return feed.pid != old and feed.state == "crashed" and feed.exit_code == AuthError.exit_code

    await env.wait(stopped, f"feed stopped with exit code {AuthError.exit_code} after Dhan's {code}, not restarted")
    await env.sup.start("feed")
    env.reconnected_at = time.monotonic()


async def dhan_disconnect_806(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 806)


async def dhan_disconnect_807(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 807)


async def dhan_disconnect_808(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 808)


async def dhan_disconnect_809(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 809)


async def dhan_drop(env: ChaosEnv) -> None:
    await _dhan(env, kind="drop")


async def dhan_stall(env: ChaosEnv) -> None:
    await _dhan(env, kind="stall", seconds="600")  # the feed's watchdog (DHAN_STALL_TIMEOUT_S) reconnects


async def malformed_frames(env: ChaosEnv) -> None:
    for variant in ("truncated", "unknown", "garbage"):
        await env.sim_fault(kind="malformed", variant=variant)


async def feed_and_writer_sigkill(env: ChaosEnv) -> None:
    await asyncio.gather(env.sigkill("feed"), env.sigkill("writer"))


async def redis_restart_and_writer_sigkill(env: ChaosEnv) -> None:
    await env.sigkill("writer")
    await restart_redis_aof(env)


async def all_at_once(env: ChaosEnv) -> None:
    await env.sim_fault(kind="malformed", variant="garbage")
    await asyncio.gather(env.sigkill("feed"), env.sigkill("writer"), env.sigkill("greeks"),
                         env.drop_mysql_connections())
    await restart_redis_aof(env)


FAULTS: dict[str, Fault] = {
    "feed SIGKILL": kill_feed,
    "writer SIGKILL": kill_writer,
    "greeks SIGKILL": kill_greeks,
    "redis restart (AOF)": restart_redis_aof,
    "redis down 30s": redis_down_30s,
    "mysql connections dropped": mysql_drop_connections,
    "mysql restart (private MariaDB)": mysql_restart,
    "dhan disconnect 805": dhan_disconnect_805,
    "dhan disconnect 800 (unknown)": dhan_disconnect_800,
    "dhan 806 (operator restarts)": dhan_disconnect_806,
    "dhan 807 (operator restarts)": dhan_disconnect_807,
    "dhan 808 (operator restarts)": dhan_disconnect_808,
    "dhan 809 (operator restarts)": dhan_disconnect_809,
    "dhan drop (no close frame)": dhan_drop,
    "dhan silent stall": dhan_stall,
    "dhan depth drop (books within 1 s)": dhan_depth_drop,
    "malformed frames": malformed_frames,
    "feed + writer SIGKILL": feed_and_writer_sigkill,
    "redis restart + writer SIGKILL": redis_restart_and_writer_sigkill,
    "all at once": all_at_once,
}
CI_FAULTS = ["feed SIGKILL", "writer SIGKILL", "redis restart (AOF)", "malformed frames", "dhan disconnect 805"]
MYSQL_RESTART = "mysql restart (private MariaDB)"
FULL_FAULTS = [f for f in FAULTS if f != MYSQL_RESTART]  # + MYSQL_RESTART with a private MariaDB
