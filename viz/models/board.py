"""Quote board: the latest quote of every subscribed instrument, with change tracking for flashing cells.

A quote is applied only if it is not older than the row's, in the writer's forward order (exchange time,
day volume, receive time), so history from ``dhan_quotes`` and live events from the stream can overlap
without a stale value winning. Each applied quote records, per watched column, whether the value rose or
fell and when (``flash``), which the view turns into a brief green/red cell background.

:meth:`BoardModel.take_changed` gives the rows to repaint since the last paint (a quote applied, or a
flash that ended) and :meth:`BoardModel.view` what a row shows, so a view repaints only cells that changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from viz.models import fmt, values

__all__ = ["COLUMNS", "FLASH_COLUMNS", "BoardModel", "CellView", "QuoteRow"]

# (id, title) in display order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "Symbol"),
    ("ltp", "LTP"),
    ("change", "Change"),
    ("change_pct", "% Chg"),
    ("volume", "Volume"),
    ("oi", "OI"),
    ("oi_change", "OI Chg"),
    ("bid", "Bid"),
    ("ask", "Ask"),
    ("updated", "Updated"),
)
FLASH_COLUMNS = ("ltp", "volume", "oi", "bid", "ask")
_SIGNED_COLUMNS = frozenset(("change", "change_pct", "oi_change"))  # text green when up, red when down
# (text, text colour, background) of one cell; colours are theme names ("up", "flash_down"...) or None
CellView = tuple[str, str | None, str | None]
_QUOTE_FIELDS = ("ltp", "volume", "oi", "bid", "ask", "prev_close", "close", "prev_oi", "exchange_ts")


@dataclass(slots=True)
class QuoteRow:
    key: str
    symbol: str
    segment: str = ""
    role: str = ""
    tick_size: float = 0.05
    ltp: float | None = None
    prev_close: float | None = None
    volume: int | None = None
    oi: int | None = None
    prev_oi: int | None = None
    bid: float | None = None
    ask: float | None = None
    exchange_ts: int | None = None
    order: tuple[float, float, float] = (-1.0, -1.0, -1.0)
    flash: dict[str, tuple[int, float]] = field(default_factory=dict)  # column -> (+1/-1, monotonic time)

    @property
    def change(self) -> float | None:
        if self.ltp is None or not self.prev_close:
            return None
        return self.ltp - self.prev_close

    @property
    def change_pct(self) -> float | None:
        if self.ltp is None or not self.prev_close:
            return None
        return (self.ltp - self.prev_close) / self.prev_close * 100.0

    @property
    def oi_change(self) -> int | None:
        if self.oi is None or self.prev_oi is None:
            return None
        return self.oi - self.prev_oi

    @property
    def has_oi(self) -> bool:
        """Derivatives carry open interest; stocks and indices do not (their 0 is shown as blank)."""
        return self.role not in ("equity", "index")

    def value(self, column: str) -> Any:
        if column == "updated":
            return self.exchange_ts
        if column in ("oi", "oi_change") and not self.has_oi:
            return None
        return getattr(self, column)


class BoardModel:
    """Rows by instrument key in insertion order; ``dirty`` collects keys changed since the last paint."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.rows: dict[str, QuoteRow] = {}
        self.order: list[str] = []
        self._position: dict[str, int] = {}
        self.dirty: set[str] = set()
        self.added = False  # rows were added since the last paint (the view resets its row count)
        self._clock = clock
        # (key, column) -> time of the cell's running flash, oldest first (bounded by the cells, whether or
        # not anyone takes the changes: the terminal board does not)
        self._flashes: dict[tuple[str, str], float] = {}

    def add_instrument(
        self, key: str, symbol: str, *, segment: str = "", role: str = "", tick_size: float = 0.05
    ) -> QuoteRow:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = QuoteRow(key, symbol, segment, role, tick_size)
            self._position[key] = len(self.order)
            self.order.append(key)
            self.added = True
        else:
            row.symbol, row.segment, row.role, row.tick_size = (
                symbol,
                segment or row.segment,
                role or row.role,
                tick_size,
            )
        return row

    def apply(self, key: str, q: Mapping[str, Any], *, flash: bool = True) -> bool:
        """Apply a quote (event dict or ``dhan_quotes`` row with the same field names) if not older.

        A bad value (NaN, infinite, huge, wrong type: :mod:`viz.models.values`) is taken as missing."""
        row = self.rows.get(key)
        if row is None:
            return False
        order = values.quote_order(q)
        if order < row.order:
            return False
        row.order = order
        now = self._clock()
        for column, new in (
            ("ltp", values.price(q.get("ltp"))),
            ("volume", values.quantity(q.get("volume"))),
            ("oi", values.quantity(q.get("oi"))),
            ("bid", values.price(q.get("bid"))),
            ("ask", values.price(q.get("ask"))),
        ):
            if new is None:
                continue
            old = getattr(row, column)
            if flash and old is not None and new != old:
                row.flash[column] = (1 if new > old else -1, now)
                self._flashes.pop((key, column), None)  # re-inserted last: the dict stays oldest first
                self._flashes[(key, column)] = now
            setattr(row, column, new)
        prev = values.price(q.get("prev_close")) or values.price(q.get("close"))
        if prev:
            row.prev_close = prev
        prev_oi = values.quantity(q.get("prev_oi"))
        if prev_oi is not None:
            row.prev_oi = prev_oi
        ets = values.exchange_ts(q.get("exchange_ts"))
        if ets:
            row.exchange_ts = ets
        self.dirty.add(key)
        return True

    def position(self, key: str) -> int:
        """Row number of ``key`` in ``order``."""
        return self._position[key]

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def take_changed(self, window_s: float) -> set[str]:
        """Rows whose cells changed since the last call: a quote was applied, or a flash older than
        ``window_s`` ended (its background goes back). Rows that only keep flashing are not reported."""
        now = self._clock()
        changed = self.take_dirty()
        ended: list[tuple[str, str]] = []
        for cell, t in self._flashes.items():
            if now - t <= window_s:  # still on (as in flash_of), and so is every later one
                break
            ended.append(cell)
        for cell in ended:
            del self._flashes[cell]
            changed.add(cell[0])
        return changed

    @property
    def flash_pending(self) -> bool:
        """A flash is still running: its end has to be painted even if no quote arrives."""
        return bool(self._flashes)

    def view(self, key: str, window_s: float) -> list[CellView]:
        """What each of ``COLUMNS`` shows now: text (blank when unknown), green/red text for signed
        columns, and the flash background of a cell changed within ``window_s``."""
        row = self.rows[key]
        decimals = fmt.display_decimals(row.tick_size)
        now = self._clock()
        out: list[CellView] = []
        for column, _ in COLUMNS:
            value = row.value(column)
            fg = ("up" if value > 0 else "down") if column in _SIGNED_COLUMNS and value else None
            entry = row.flash.get(column)
            bg = None
            if entry is not None and value is not None and now - entry[1] <= window_s:  # blank cells stay blank
                bg = "flash_up" if entry[0] > 0 else "flash_down"
            out.append((fmt.board_cell(column, value, decimals, missing=""), fg, bg))
        return out

    def flash_of(self, key: str, column: str, window_s: float) -> int:
        """+1/-1 while the cell's last change is younger than ``window_s``, else 0."""
        row = self.rows.get(key)
        if row is None:
            return 0
        entry = row.flash.get(column)
        if entry is None or self._clock() - entry[1] > window_s:
            return 0
        return entry[0]

    def flashing_keys(self, window_s: float) -> set[str]:
        """Rows with a cell inside its flash window (repainted until it fades)."""
        now = self._clock()
        return {r.key for r in self.rows.values() if any(now - t <= window_s for _, t in r.flash.values())}

    def matches(self, key: str, text: str) -> bool:
        """Filter: every space-separated word of ``text`` appears in the symbol, segment or role."""
        row = self.rows[key]
        hay = f"{row.symbol} {row.segment} {row.role}".lower()
        return all(word in hay for word in text.lower().split())
