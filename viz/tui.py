"""``dhan viz quotes --tui``: the quote board in a terminal (rich ``Live``), no display or Qt needed.

Same data path as the window (stored quotes, then the stream from the writer's position, see
``viz.data.seam``), same :class:`BoardModel`, redrawn four times a second. Rows are listed as the window
lists them (indices, futures, stocks, options), filtered by the words of ``--instrument`` if given, and cut
to the terminal's height. Works over SSH; Ctrl+C or ``--duration`` ends it.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiomysql
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from shared.keys import Keys
from shared.settings import Settings
from viz.data import history
from viz.data.catalog import Instrument
from viz.data.link import DataLink
from viz.data.live import read_universe
from viz.data.sources import LatestSource
from viz.models import fmt
from viz.models.board import COLUMNS, BoardModel
from viz.models.status import StatusModel

__all__ = ["QuoteTui", "run_tui"]

REFRESH_HZ = 4.0
FLASH_S = 0.8
UNIVERSE_RETRY_S = 2.0
ROLE_ORDER = {"index": 0, "future": 1, "commodity": 2, "equity": 3, "option": 4}
# Width each column needs, and the order columns are dropped in when the terminal is narrower.
WIDTHS = {
    "symbol": 24,
    "ltp": 10,
    "change": 9,
    "change_pct": 8,
    "volume": 12,
    "oi": 12,
    "oi_change": 10,
    "bid": 10,
    "ask": 10,
    "updated": 8,
}
DROP_ORDER = ("updated", "oi_change", "bid", "ask", "oi", "volume")


def visible_columns(width: int) -> list[tuple[str, str]]:
    """Columns that fit ``width`` characters, the least important dropped first."""
    shown = [c for c, _ in COLUMNS]
    for column in DROP_ORDER:
        if sum(WIDTHS[c] + 1 for c in shown) <= width:
            break
        shown.remove(column)
    return [(c, t) for c, t in COLUMNS if c in shown]


class QuoteTui:
    """Board model + data routine + renderer; ``render()`` is pure over the model (tested directly)."""

    def __init__(self, settings: Settings, *, words: str = "") -> None:
        self.settings = settings
        self.keys = Keys(settings.redis.key_prefix)
        self.status = StatusModel()
        self.link = DataLink(settings, self.status, name="viz.tui")
        self.board = BoardModel()
        self.words = words

    async def data_routine(self) -> None:
        while True:
            universe = await read_universe(await self.link.redis(), self.keys)
            if universe:
                break
            self.status.note = "the feed's universe is empty: start the feed (dhan up)"
            await asyncio.sleep(UNIVERSE_RETRY_S)
        self.add_instruments(universe)
        self.status.note = f"{len(self.board.rows)} instruments"

        async def load(pool: aiomysql.Pool) -> dict[str, Any]:
            return {"quotes": await history.fetch_quotes(pool)}

        def apply(kind: str, key: str, q: dict[str, Any], live: bool) -> None:
            self.board.apply(key, q, flash=live)

        await LatestSource(
            self.link, self.keys, ["quotes"], load, apply, self.status, wants=self.board.rows.__contains__
        ).run()

    def add_instruments(self, universe: dict[str, Instrument]) -> None:
        for inst in sorted(
            universe.values(),
            key=lambda i: (ROLE_ORDER.get(i.role, 9), i.underlying, i.expiry or "", i.strike or 0, i.label),
        ):
            self.board.add_instrument(inst.key, inst.label, segment=inst.seg, role=inst.role, tick_size=inst.tick_size)

    def render(self, max_rows: int = 40, width: int = 160) -> Group:
        columns = visible_columns(width)
        table = Table(expand=True, header_style="bold", pad_edge=False, box=None, row_styles=["", "dim"])
        for column, title in columns:
            table.add_column(
                title,
                justify="left" if column == "symbol" else "right",
                no_wrap=True,
                min_width=WIDTHS[column] if column != "symbol" else 12,
            )
        keys = [k for k in self.board.order if not self.words or self.board.matches(k, self.words)]
        for key in keys[:max_rows]:
            row = self.board.rows[key]
            dp = fmt.display_decimals(row.tick_size)
            cells: list[Text] = []
            for column, _ in columns:
                value = row.value(column)
                text = _cell(column, value, dp)
                style = ""
                if column in ("change", "change_pct", "oi_change") and value:
                    style = "green" if value > 0 else "red"
                flash = self.board.flash_of(key, column, FLASH_S)
                if flash:
                    style = "bold black on green" if flash > 0 else "bold white on red"
                cells.append(Text(text, style=style))
            table.add_row(*cells)
        hidden = len(keys) - min(len(keys), max_rows)
        footer = self.status.text() + (f"  |  {hidden} more rows (narrow with --instrument)" if hidden else "")
        return Group(table, Text(footer, style="dim"))


def _cell(column: str, value: Any, dp: int) -> str:
    return fmt.board_cell(column, value, dp)


async def _main(tui: QuoteTui, duration_s: float | None, console: Console) -> int:
    task = asyncio.create_task(tui.link.run_forever(tui.data_routine, "quotes"), name="quotes")
    loop = asyncio.get_running_loop()
    deadline = None if duration_s is None else loop.time() + duration_s
    try:
        with Live(
            tui.render(width=console.size.width), console=console, refresh_per_second=REFRESH_HZ, screen=False
        ) as live:
            while deadline is None or loop.time() < deadline:
                await asyncio.sleep(1.0 / REFRESH_HZ)
                if task.done():
                    task.result()  # an unexpected failure surfaces here
                live.update(tui.render(max(5, console.size.height - 4), console.size.width))
    finally:
        await tui.link.cancel_and_close([task])
    return 0


def run_tui(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    tui = QuoteTui(settings, words=args.instrument or "")
    try:
        return asyncio.run(_main(tui, args.duration, console))
    except KeyboardInterrupt:
        return 0
