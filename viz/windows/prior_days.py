"""The "Days" control of a price window: how many previous sessions it shows, and their load.

The choice (:data:`~viz.data.prior.PRIOR_DAYS_CHOICES`) starts at the window's remembered value, else
``settings.viz.prior_days``, and is remembered per window kind. :meth:`PriorDays.reload` (the window calls it
when its instrument or shown session changes, and the choice does on a change) loads the last N sessions
before the shown one as the task ``prior`` ("latest wins": a newer load cancels the older) and hands the
result to ``apply`` unless the instrument or session changed meanwhile. N = 0 hands over an empty list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import aiomysql

from viz.data.catalog import Instrument
from viz.data.prior import PRIOR_DAYS_CHOICES, prior_trading_days
from viz.widgets.controls import ChoiceBox, labelled

__all__ = ["PriorDays"]

T = TypeVar("T")
Load = Callable[[aiomysql.Pool, Instrument, list[date]], Awaitable[list[T]]]


def _label(n: int) -> str:
    return "today" if n == 0 else f"+{n} day" + ("s" if n > 1 else "")


class PriorDays(Generic[T]):
    """Owned by a :class:`~viz.windows.price_base.PriceWindow`; adds its control to the window's toolbar."""

    def __init__(self, window: Any, load: Load[T], apply: Callable[[list[T]], None]) -> None:
        self._window, self._load, self._apply = window, load, apply
        self.box = ChoiceBox([(_label(n), n) for n in PRIOR_DAYS_CHOICES])
        wanted = int(window.recall("prior_days", window.settings.viz.prior_days))
        self.box.set_value(min(PRIOR_DAYS_CHOICES, key=lambda n: abs(n - wanted)))
        self.box.setToolTip("previous sessions shown before today's")
        self.box.currentIndexChanged.connect(self._changed)
        window.toolbar.addWidget(labelled("Days", self.box))
        self.days: list[date] = []  # the sessions loaded, oldest first

    @property
    def n(self) -> int:
        return int(self.box.value())

    def _changed(self, *_: object) -> None:
        self._window.remember("prior_days", self.n)
        self.reload()

    def reload(self) -> None:
        self._window.spawn(self._routine, "prior")

    async def _routine(self) -> None:
        w = self._window
        inst, day = w.instrument, w.session_day
        if inst is None or day is None:
            return
        shown = date(1970, 1, 1) + timedelta(days=day)
        pool = await w.link.pool()
        days = await prior_trading_days(pool, inst.seg, inst.sid, shown, self.n)
        loaded = await self._load(pool, inst, days) if days else []
        if inst is w.instrument and day == w.session_day:  # not switched meanwhile
            self.days = days
            self._apply(loaded)
            w.mark_dirty()
