"""What the depth window shows of one instrument, pure: the newest book, its ladder and the liquidity map.

Books come from three feeds: 20-level and 200-level (``dhan:depth20``) and the 5-level depth of the main
feed (``dhan:depth``), the fallback when the 20-level feed is off. The deepest feed seen wins: once a
20-level book arrived, 5-level books are ignored, unless the deeper feed has been silent for ``STALE_S``
while the shallower one goes on (the depth socket is down or the instrument left its list): then the view
falls back. Within one feed, the shown book only moves forward in (receive time, sequence).
"""

from __future__ import annotations

from collections.abc import Iterable

from viz.models.heat_colours import HeatColours
from viz.models.ladder import Book, Ladder, LadderRows
from viz.models.liquidity import LiquidityMap

__all__ = ["STALE_S", "DepthView"]

STALE_S = 5.0


class DepthView:
    def __init__(self, tick: float, *, col_s: float, cols: int, ladder_rows: int) -> None:
        self.tick = tick
        self.levels: int | None = None  # the feed shown: 5, 20 or 200
        self.book: Book | None = None
        self.ladder = Ladder(tick, ladder_rows)
        self.liquidity = LiquidityMap(tick, col_s, cols)
        self.colours = HeatColours(self.liquidity)  # the heatmap's picture, kept column by column
        self.books_seen = 0

    def reset(self, books: Iterable[Book]) -> None:
        """History (oldest first): the view starts again from these books."""
        self.levels, self.book = None, None
        self.liquidity.clear()
        for book in sorted(books, key=lambda b: b.order):
            self.add(book)

    def add(self, book: Book) -> bool:
        """Offer a book; True when it became the shown one."""
        current = self.book
        if current is None or self.levels is None:
            self.levels = book.levels
        elif book.levels != self.levels:
            deeper = book.levels > self.levels
            if not deeper and book.t - current.t < STALE_S:
                return False
            self.levels = book.levels  # a deeper feed, or the shown one went quiet: switch
        elif book.order < current.order:
            return False
        self.book = book
        self.books_seen += 1
        self.liquidity.add_book(book)
        return True

    def ladder_rows(self, last_price: float | None) -> LadderRows | None:
        return None if self.book is None else self.ladder.rows(self.book, last_price)
