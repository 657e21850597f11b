"""Order books for the depth window, pure: an event (or stored row) -> :class:`Book`, a book -> DOM ladder rows.

Times are on Dhan's clock (IST wall time counted as UTC, as ``exchange_ts``), so the axes label them with
:func:`viz.models.fmt.ist_time`: a book's time is its receive time shifted by the IST offset. Prices are
rows of the instrument's tick: row ``k`` holds the price ``k * tick``.

The ladder keeps a fixed number of price rows and moves them only when the touch leaves the middle half
(hysteresis): a ladder re-centred on every update would jump under the eye on each tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.clock import IST_OFFSET_S
from viz.models import values

__all__ = ["Book", "Ladder", "LadderRows", "book_from_event", "tick_index"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_F = np.zeros(0, np.float64)


def tick_index(price: Any, tick: float) -> Any:
    """Row of a price (scalar or array) on a ``tick`` grid."""
    return np.rint(np.asarray(price, np.float64) / tick).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Book:
    """One book, best level first on each side; empty levels (price 0, the 20-level feed's padding) left out."""

    t: float  # Dhan-clock seconds (receive time + IST offset)
    seq: int
    levels: int  # 5, 20 or 200: the feed it came from
    bid_px: F64 = field(default_factory=lambda: _EMPTY_F)
    bid_qty: I64 = field(default_factory=lambda: _EMPTY_I)
    bid_orders: I64 = field(default_factory=lambda: _EMPTY_I)
    ask_px: F64 = field(default_factory=lambda: _EMPTY_F)
    ask_qty: I64 = field(default_factory=lambda: _EMPTY_I)
    ask_orders: I64 = field(default_factory=lambda: _EMPTY_I)

    @property
    def order(self) -> tuple[float, int]:
        return (self.t, self.seq)

    @property
    def best_bid(self) -> float | None:
        return float(self.bid_px[0]) if len(self.bid_px) else None

    @property
    def best_ask(self) -> float | None:
        return float(self.ask_px[0]) if len(self.ask_px) else None


def _side(levels: Any) -> tuple[F64, I64, I64]:
    px: list[float] = []
    qty: list[int] = []
    orders: list[int] = []
    if isinstance(levels, list):
        for level in levels:
            if not isinstance(level, (list, tuple)) or len(level) != 3:
                continue
            p, q, o = values.price(level[0]), values.quantity(level[1]), values.quantity(level[2])
            if p is None or q is None or p <= 0.0:
                continue
            px.append(p)
            qty.append(q)
            orders.append(o or 0)
    return np.asarray(px, np.float64), np.asarray(qty, np.int64), np.asarray(orders, np.int64)


def book_from_event(ev: dict[str, Any]) -> Book | None:
    """A ``dhan:depth20`` event (``levels`` 20/200) or a 5-level ``dhan:depth`` event; None when unusable."""
    recv = values.finite(ev.get("recv_ts"))
    if recv is None or recv <= 0:
        return None
    levels = ev.get("levels", 5)
    seq = values.quantity(ev.get("seq")) or 0
    if levels not in (5, 20, 200):
        return None
    bid = _side(ev.get("bids"))
    ask = _side(ev.get("asks"))
    return Book(recv + IST_OFFSET_S, seq, int(levels), *bid, *ask)


@dataclass(frozen=True, slots=True)
class LadderRows:
    """``rows`` price rows, highest first: row ``i`` is the price ``(top - i) * tick``."""

    top: int  # tick index of row 0
    tick: float
    bid_qty: I64
    ask_qty: I64
    bid_orders: I64
    ask_orders: I64
    best_bid_row: int  # -1: none
    best_ask_row: int
    last_row: int  # the last trade's price row; -1: none or off the ladder

    @property
    def rows(self) -> int:
        return len(self.bid_qty)

    def price(self, row: int) -> float:
        return (self.top - row) * self.tick

    @property
    def max_qty(self) -> int:
        return int(max(self.bid_qty.max(initial=0), self.ask_qty.max(initial=0)))


class Ladder:
    """The DOM ladder of one instrument: ``update`` with the newest book, read :meth:`rows`."""

    def __init__(self, tick: float, rows: int) -> None:
        if tick <= 0 or rows < 3:
            raise ValueError("a ladder needs a positive tick and at least 3 rows")
        self.tick = tick
        self.n_rows = rows
        self.top: int | None = None  # tick index of the first row; None until a book with a price arrives

    def resize(self, rows: int) -> None:
        self.n_rows = max(3, rows)
        self.top = None  # centred again on the next rows()

    def _centre(self, book: Book) -> int | None:
        """Tick index the ladder is centred on: the middle of the spread (a lone side's best price)."""
        bb = int(tick_index(book.bid_px[0], self.tick)) if len(book.bid_px) else None
        ba = int(tick_index(book.ask_px[0], self.tick)) if len(book.ask_px) else None
        if bb is not None and ba is not None:
            return (bb + ba) // 2
        return bb if bb is not None else ba

    def rows(self, book: Book, last_price: float | None = None) -> LadderRows:
        n = self.n_rows
        centre = self._centre(book)
        if centre is not None:
            half = n // 2
            if self.top is None or not self.top - n + n // 4 < centre <= self.top - n // 4:
                self.top = centre + half  # the touch left the middle half: re-centre
        top = self.top if self.top is not None else 0
        out = {name: np.zeros(n, np.int64) for name in ("bid_qty", "ask_qty", "bid_orders", "ask_orders")}
        best = {}
        for side, px, qty, orders in (
            ("bid", book.bid_px, book.bid_qty, book.bid_orders),
            ("ask", book.ask_px, book.ask_qty, book.ask_orders),
        ):
            row = top - tick_index(px, self.tick)
            inside = (row >= 0) & (row < n)
            np.add.at(out[f"{side}_qty"], row[inside], qty[inside])
            np.add.at(out[f"{side}_orders"], row[inside], orders[inside])
            best[side] = int(row[0]) if len(row) and inside[0] else -1
        last = -1
        if last_price is not None:
            r = top - int(tick_index(last_price, self.tick))
            last = r if 0 <= r < n else -1
        return LadderRows(top, self.tick, out["bid_qty"], out["ask_qty"], out["bid_orders"], out["ask_orders"],
                          best["bid"], best["ask"], last)  # fmt: skip
