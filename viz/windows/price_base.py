"""Shared by the windows that follow one instrument's trades (volume profile, tick chart, profile chart).

The universe is read at start and every ``UNIVERSE_REFRESH_S``; the instrument is ``--instrument`` (SEG:ID
or symbol), else the one chosen last time, else the NIFTY near-month future. Choosing another instrument
restarts the trade routine ("latest wins": the previous load is cancelled). The window is the routine's
sink: ``reset_ticks`` replaces the session (history load, new trading day), ``add_ticks`` appends live trades.
The gap ledger is read every ``GAPS_REFRESH_S`` (and at once on a new instrument or session): today's holes
go to the status line, the shown session's to ``self.gaps`` for the charts' bands.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel

from shared.clock import day_bounds, ist_trading_day
from shared.gaps import Gap, gaps_between
from shared.settings import Settings
from viz.data.catalog import Instrument, default_future, find_instrument
from viz.data.live import read_universe
from viz.data.sources import TickSource
from viz.models.gaps import gap_summary
from viz.models.ticks import TickSeries, sane_ticks
from viz.widgets.controls import InstrumentCombo, labelled
from viz.windows.base import Routine, VizOptions, VizWindow

__all__ = ["PriceWindow", "session_label"]

UNIVERSE_REFRESH_S = 10.0
UNIVERSE_EMPTY_RETRY_S = 2.0
GAPS_REFRESH_S = 5.0


def session_label(day: int | None) -> str:
    if day is None:
        return "no session"
    return (date(1970, 1, 1) + timedelta(days=day)).strftime("%a %d %b %Y")


def _bare(text: str) -> Instrument | None:
    """``SEG:ID`` not in the universe: shown from history alone, with default tick size."""
    seg, _, sid = text.partition(":")
    if seg and sid.isdigit():
        return Instrument(seg=seg.upper(), sid=int(sid), symbol=text.upper())
    return None


class PriceWindow(VizWindow):
    """A window on one instrument's trades; subclasses implement ``on_reset``/``on_add``/``paint_models``."""

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.instruments: dict[str, Instrument] = {}
        self.instrument: Instrument | None = None
        self.ticks = TickSeries()
        self.session_day: int | None = None
        self.source: TickSource | None = None
        self.combo = InstrumentCombo()
        self.combo.chosen.connect(self.choose)
        self.toolbar.addWidget(labelled("Instrument", self.combo))
        self.header = QLabel("waiting for the feed's instrument list")
        self.header.setObjectName("header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)  # a long header wraps instead of widening the window
        self._wanted = self.options.instrument or self.recall("instrument")
        self.gaps: list[Gap] = []  # the shown session's, from the gap ledger (shared.gaps)
        self.gaps_now = self.clock()  # when they were read: an open gap runs to here
        self._gaps_wake = asyncio.Event()

    # --- subclass hooks ---
    def on_instrument(self, instrument: Instrument) -> None:
        """A new instrument was chosen (before its history arrives)."""

    def on_reset(self) -> None:
        """``self.ticks`` was replaced (history loaded, or a new session began)."""

    def on_add(self, events: list[dict[str, Any]]) -> None:
        """Live trades were appended to ``self.ticks``."""

    # --- data ---
    def data_routines(self) -> dict[str, Routine]:
        return {"universe": self._universe_routine, "gaps": self._gaps_routine}

    async def _gaps_routine(self) -> None:
        """Every few seconds, this instrument's holes from the gap ledger (shared.gaps): today's in the
        status line, the shown session's (today's, or the last session's before the open) on the chart."""
        while True:
            self._gaps_wake.clear()
            inst = self.instrument
            if inst is not None:
                pool = await self.link.pool()
                now = self.clock()
                today = ist_trading_day(now)
                shown = today if self.session_day is None else date(1970, 1, 1) + timedelta(days=self.session_day)
                midnight, _ = bounds = day_bounds(today)
                todays = await gaps_between(pool, inst.seg, inst.sid, *bounds)
                gaps = todays if shown == today else await gaps_between(pool, inst.seg, inst.sid, *day_bounds(shown))
                if inst is self.instrument:  # not switched meanwhile
                    self.status_model.gaps = gap_summary(todays, now, since=midnight)
                    self._set_gaps(gaps, now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gaps_wake.wait(), GAPS_REFRESH_S)

    def _set_gaps(self, gaps: list[Gap], now: float) -> None:
        """Repaint when the ledger changed, or while a gap is open (it grows with ``now``)."""
        if gaps != self.gaps or any(g.end_ts is None for g in gaps):
            self.gaps, self.gaps_now = gaps, now
            self.mark_dirty()

    async def _universe_routine(self) -> None:
        while True:
            redis = await self.link.redis()
            self.instruments = await read_universe(redis, self.keys)
            current = self.instrument.key if self.instrument else None
            self.combo.set_instruments(self.instruments.values(), current)
            if self.instrument is None:
                chosen = self._initial_choice()
                if chosen is not None:
                    self.instruments.setdefault(chosen.key, chosen)
                    self.choose(chosen.key)
                elif not self.instruments:
                    self.status_model.note = "the feed's universe is empty: start the feed (dhan up)"
                    await asyncio.sleep(UNIVERSE_EMPTY_RETRY_S)
                    continue
            await asyncio.sleep(UNIVERSE_REFRESH_S)

    def _initial_choice(self) -> Instrument | None:
        wanted = str(self._wanted) if self._wanted else None
        explicit = self.options.instrument is not None
        if wanted:
            found = find_instrument(self.instruments, wanted) or (_bare(wanted) if explicit else None)
            if found is not None:
                if found.key not in self.instruments:
                    self.status_model.note = f"{wanted} is not subscribed by the feed: history only"
                return found
            if explicit:
                self.status_model.note = f"{wanted} is not in the feed's universe"
        return default_future(self.instruments.values()) or next(
            iter(sorted(self.instruments.values(), key=lambda i: i.label)), None
        )

    def choose(self, key: str) -> None:
        inst = self.instruments.get(key)
        if inst is None:
            return
        self.instrument = inst
        self.remember("instrument", key)
        self.combo.select(key)
        self.setWindowTitle(f"{self.TITLE} - {inst.label}")
        self.ticks = TickSeries()
        self.session_day = None
        self.gaps = []
        self.status_model.gaps = ""
        self._gaps_wake.set()
        self.on_instrument(inst)
        self.source = TickSource(self.link, self.keys, inst, self, self.status_model,
                                 today=lambda: ist_trading_day(self.clock()))
        self.spawn(self.source.run, "ticks")
        self.mark_dirty()

    # --- TickSink ---
    def reset_ticks(self, ticks: TickSeries, day: int) -> None:
        self.ticks = ticks
        if day != self.session_day:
            self._gaps_wake.set()  # another day's gaps to shade
        self.session_day = day
        self.on_reset()
        self.mark_loaded()

    def add_ticks(self, events: list[dict[str, Any]]) -> None:
        events = sane_ticks(events)  # a bad value must reach no model
        self.ticks.extend_events(events)
        self.on_add(events)
        self.mark_dirty()
