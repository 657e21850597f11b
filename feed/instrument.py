"""One instrument's state in the normaliser (feed/normalise.py): the merged quote, tick rounding, trade baseline.

With the native path built (feed/_fastfeed.c), the same state may live in C as well (``nat``, a
``feed._fastfeed.State``). Exactly one copy is the truth at a time: ``nat.current`` says the native one is.
The normaliser's Python path takes the truth with :meth:`Instrument.to_python` before it touches the
instrument and gives it back with :meth:`Instrument.to_native` after, so each packet is handled by one path
against one state.
"""

from __future__ import annotations

from typing import Any

from feed.prices import decimals, native_tick, shared_rounder, usable_tick

__all__ = ["Instrument"]


class Instrument:
    """Per-instrument state: the merged quote dict, tick rounding, trade baseline.

    With the native path, ``nat`` holds the same state in C. Exactly one copy is the truth: ``nat.current``
    says it is the native one, and :meth:`to_python` / :meth:`to_native` hand the truth over.
    """

    __slots__ = ("dp", "last_trade_price", "nat", "native", "quote", "rnd", "tick", "vol", "vol_ltt")

    def __init__(self, seg: str, sid: int, tick: float) -> None:
        self.nat: Any = None  # the native copy (feed._fastfeed.State), when the native path holds this one
        self.vol = -1  # cumulative volume baseline; -1 = none yet
        self.vol_ltt = 0  # the LTT of the baseline's packet (its trading day: // 86400)
        self.last_trade_price = 0.0
        self.set_tick(tick)
        self.quote: dict[str, Any] = {
            "v": 1, "seg": seg, "sid": sid, "ltp": None, "ltq": None, "exchange_ts": None, "atp": None,
            "volume": None, "tsq": None, "tbq": None, "oi": None, "oi_high": None, "oi_low": None,
            "open": None, "close": None, "high": None, "low": None, "prev_close": None, "prev_oi": None,
            "bid": None, "ask": None, "recv_ts": None, "src": None,
        }

    def set_tick(self, tick: float) -> None:
        self.tick = usable_tick(tick)
        self.dp = decimals(self.tick)
        self.rnd = shared_rounder(self.tick)
        self.native = native_tick(self.tick, self.dp)

    def to_python(self) -> None:
        """The native copy is the truth: make the Python copy the truth."""
        nat = self.nat
        self.quote = nat.as_dict()
        self.vol, self.vol_ltt, self.last_trade_price = nat.vol, nat.vol_ltt, nat.last_trade_price
        nat.current = False

    def to_native(self) -> None:
        """Give the truth back to the native copy (it stays with Python if the native one cannot hold it)."""
        self.nat.load(self.quote, self.vol, self.vol_ltt, self.last_trade_price)

    def view(self) -> dict[str, Any]:
        """The quote state, read only, wherever it lives."""
        nat = self.nat
        return nat.as_dict() if nat is not None and nat.current else self.quote
