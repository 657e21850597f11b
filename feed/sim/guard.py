"""Who may use the simulator's HTTP side: fault injection behind a setting and a token, web pages of other
origins refused.

``POST /fault`` changes what every client sees (``expire`` ends a feed with exit code 3), so it is off unless
``DHAN_SIM_FAULTS`` (``dhan sim --faults``) is set, and then it needs ``DHAN_SIM_TOKEN`` as ``?token=``; the
simulator refuses to start with faults on and no token. Any web page the user opens may send requests to
127.0.0.1 too, so a request whose ``Origin`` is not the simulator's own is refused with 403. Programs (aiohttp,
curl, the feed) send no ``Origin``; refusing pages on every path also keeps one from taking the feed's
WebSocket slots (5 per token).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from shared.errors import ConfigError
from shared.settings import Settings

__all__ = ["OriginGuard", "check_fault_settings", "fault_refusal", "own_origins", "same_secret"]

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def own_origins(host: str, port: int) -> frozenset[str]:
    """The ``Origin`` values of pages served by the simulator itself: the only browser origins it accepts.

    A fixed set, not one derived from the request's ``Host``: a page on a rebound DNS name sends its own name
    in both, so comparing them would let it through."""
    names = {f"[{host}]" if ":" in host else host, *_LOOPBACK_NAMES}
    return frozenset(f"http://{name}:{port}" for name in names)


def check_fault_settings(settings: Settings) -> None:
    """ConfigError (one line) when fault injection is on without a token to guard it."""
    if settings.sim.faults and settings.sim.token is None:
        raise ConfigError(
            "fault injection (--faults, DHAN_SIM_FAULTS) needs DHAN_SIM_TOKEN: set it to a random value "
            "(e.g. openssl rand -hex 24); POST /fault must then present it as ?token=..."
        )


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison (a timing difference must not reveal how much of a guess was right)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def fault_refusal(settings: Settings, query: Mapping[str, str]) -> str | None:
    """Why a ``POST /fault`` with this query is refused; None when faults are on and its token matches."""
    expected = settings.sim.token
    if not settings.sim.faults or expected is None:
        return "fault injection is off: start the simulator with --faults (DHAN_SIM_FAULTS=true)"
    if not same_secret(query.get("token"), expected.get_secret_value()):
        return "token required: ?token=<DHAN_SIM_TOKEN>"
    return None


class OriginGuard:
    """aiohttp middleware (:meth:`middleware`): 403 for a request whose ``Origin`` is not one of ``origins``
    (set once listening); counted in ``refused``, logged on the first and every 1000th."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.origins: frozenset[str] = frozenset()
        self.refused = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or origin in self.origins:
            return await handler(request)
        self.refused += 1
        if self.refused == 1 or self.refused % 1000 == 0:
            self.log.warning("foreign_origin_refused", origin=origin[:100], path=request.path, count=self.refused)
        return web.json_response({"error": "requests from other web origins are refused"}, status=403)
