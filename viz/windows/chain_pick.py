"""Underlying and expiry choosers over the feed's universe, for the windows that show one option chain.

The OI and straddle windows pick a chain as the option chain window does: the remembered (or
``--instrument``) underlying, and the remembered expiry, else the nearest one not past on the IST day; the
near-month future of the underlying is the reference price (what the greeks are priced on). Lot sizes come
with the universe records, which the feed builds from the instrument master (``dhan_instruments``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PyQt6.QtCore import QTimer

from shared.clock import ist_trading_day
from viz.data.catalog import Instrument, default_future
from viz.data.live import read_universe
from viz.data.seam import date_day
from viz.models.contracts import OptionSpec
from viz.widgets.controls import ChoiceBox, labelled
from viz.windows.base import VizWindow

__all__ = ["ChainChoice", "ChainPicker", "pick_chain"]


def pick_chain(opts: Sequence[Instrument], wanted_underlying: str, wanted_expiry: str,
               today: str) -> tuple[list[str], str, list[str], str] | None:
    """The underlyings on offer and the one to show (the wanted one when listed, else the first), its expiries and
    the one to show (the wanted one when listed, else the nearest not past ``today``, an ISO date, else the
    first); None without options."""
    underlyings = sorted({i.underlying for i in opts})
    if not underlyings:
        return None
    underlying = wanted_underlying if wanted_underlying in underlyings else underlyings[0]
    expiries = sorted({i.expiry for i in opts if i.underlying == underlying and i.expiry})
    expiry = (wanted_expiry if wanted_expiry in expiries
              else next((e for e in expiries if e >= today), expiries[0] if expiries else ""))
    return underlyings, underlying, expiries, expiry

UNIVERSE_REFRESH_S = 10.0
UNIVERSE_RETRY_S = 2.0


@dataclass(frozen=True, slots=True)
class ChainChoice:
    underlying: str
    expiry: str
    specs: tuple[OptionSpec, ...]
    future: Instrument | None

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.specs)


class ChainPicker:
    """Two toolbar boxes; ``on_choice(choice)`` runs whenever the chosen chain (or its contracts) changes."""

    def __init__(self, window: VizWindow, on_choice: Callable[[ChainChoice], None]) -> None:
        self.window, self.on_choice = window, on_choice
        self.universe: dict[str, Instrument] = {}
        self.choice: ChainChoice | None = None
        self.underlying_box = ChoiceBox([])
        self.expiry_box = ChoiceBox([])
        self.expiry_box.setMinimumContentsLength(11)
        self.underlying_box.setMinimumContentsLength(10)
        self.underlying_box.activated.connect(self._underlying_chosen)
        self.expiry_box.activated.connect(self._expiry_chosen)
        window.toolbar.addWidget(labelled("Underlying", self.underlying_box))
        window.toolbar.addWidget(labelled("Expiry", self.expiry_box))
        self.wanted_underlying = str(window.options.instrument or window.recall("underlying", "NIFTY")).upper()
        self.wanted_expiry = str(window.recall("expiry", ""))

    def restart_on_new_session(self, exchange_ts: int, shown_day: int) -> bool:
        """When ``exchange_ts`` (Dhan epoch) is of a later session than ``shown_day`` and the window's clock has
        reached that IST day, restart the chain on it (from outside the calling task, which the restart
        replaces) and return True. An event dated after the clock's day restarts nothing (no loop)."""
        day = exchange_ts // 86_400
        if not day > shown_day or self.choice is None or date_day(ist_trading_day(self.window.clock())) < day:
            return False
        choice = self.choice
        QTimer.singleShot(0, lambda: self.on_choice(choice))
        return True

    def options(self) -> list[Instrument]:
        return [i for i in self.universe.values() if i.option_type in ("CE", "PE") and i.strike]

    async def routine(self) -> None:
        """Read the universe now and then; the chain follows the feed's re-centring."""
        while True:
            self.universe = await read_universe(await self.window.link.redis(), self.window.keys)
            if not self.options():
                self.window.status_model.note = "no options in the feed's universe yet (start the feed)"
                await asyncio.sleep(UNIVERSE_RETRY_S)
                continue
            self.select()
            await asyncio.sleep(UNIVERSE_REFRESH_S)

    def _fill(self, box: ChoiceBox, values: list[str], current: str) -> None:
        box.blockSignals(True)
        box.clear()
        for v in values:
            box.addItem(v, v)
        box.set_value(current)
        box.blockSignals(False)

    def _underlying_chosen(self, *_: object) -> None:
        self.wanted_underlying, self.wanted_expiry = str(self.underlying_box.value()), ""
        self.window.remember("underlying", self.wanted_underlying)
        self.select()

    def _expiry_chosen(self, *_: object) -> None:
        self.wanted_expiry = str(self.expiry_box.value())
        self.window.remember("expiry", self.wanted_expiry)
        self.select()

    def select(self) -> None:
        """Pick underlying and expiry from what is wanted and available; ``on_choice`` when the chain changed."""
        opts = self.options()
        today = ist_trading_day(self.window.clock()).isoformat()
        picked = pick_chain(opts, self.wanted_underlying, self.wanted_expiry, today)
        if picked is None:
            return
        underlyings, underlying, expiries, expiry = picked
        self._fill(self.underlying_box, underlyings, underlying)
        self._fill(self.expiry_box, expiries, expiry)
        specs = tuple(
            OptionSpec(i.key, float(i.strike or 0), "CE" if i.option_type == "CE" else "PE", max(1, i.lot_size),
                       i.expiry or "")
            for i in sorted(opts, key=lambda i: (i.strike or 0, i.option_type or ""))
            if i.underlying == underlying and i.expiry == expiry
        )
        choice = ChainChoice(underlying, expiry, specs, default_future(self.universe.values(), underlying))
        if self.choice is not None and choice == self.choice:
            return
        self.choice = choice
        self.window.setWindowTitle(f"{self.window.TITLE} - {underlying} {expiry}")
        self.on_choice(choice)
