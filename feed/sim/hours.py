"""When the simulated exchanges trade: always (the default, for demos) or by the trading calendar.

With ``dhan sim --market-hours`` (``DHAN_SIM_MARKET_HOURS``) the simulator follows NSE's and MCX's sessions and
holidays from :mod:`shared.calendar` (the scheduler's calendar): ``open`` in the regular session, ``pre_open``
in NSE's 09:00-09:15 pre-open, ``closed`` otherwise. The market model reads the status per exchange
(:mod:`feed.sim.market`): closed, an exchange's instruments send nothing after the snapshot a subscriber gets;
pre-open, only stock and futures books change. Statuses are cached until the calendar's next change, so
asking on every turn of the update loop costs a comparison.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.calendar import EXCHANGES, TradingCalendar
from shared.clock import IST

__all__ = ["ALWAYS_OPEN", "MarketHours"]

ALWAYS_OPEN = "open"
_LOOKBACK_DAYS = 15  # the longest run of closed days to search back for the last session's close


class MarketHours:
    """Market status per exchange at a time; ``calendar`` None means always open."""

    def __init__(self, calendar: TradingCalendar | None = None) -> None:
        self.calendar = calendar
        self._cache: dict[str, tuple[float, float, str]] = {}  # exchange -> (valid from, valid until, status)

    @property
    def always_open(self) -> bool:
        return self.calendar is None

    def status(self, now: float, exchange: str) -> str:
        """``open``, ``pre_open`` or ``closed`` (``exchange`` NSE or MCX) at epoch ``now``."""
        if self.calendar is None:
            return ALWAYS_OPEN
        cached = self._cache.get(exchange)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        st = self.calendar.status(now, exchange)
        until = st.next_change.timestamp() if st.next_change is not None else now + 3600.0
        self._cache[exchange] = (now, until, st.status)
        return st.status

    def statuses(self, now: float) -> dict[str, str]:
        return {ex: self.status(now, ex) for ex in EXCHANGES}

    def last_close(self, now: float, exchange: str) -> float | None:
        """Epoch of the latest session close of ``exchange`` at or before ``now``; None when always open or
        none within ``_LOOKBACK_DAYS``."""
        if self.calendar is None:
            return None
        today = datetime.fromtimestamp(now, IST).date()
        for back in range(_LOOKBACK_DAYS):
            closes = [w.close.timestamp() for w in self.calendar.windows(today - timedelta(days=back), exchange)]
            done = [c for c in closes if c <= now]
            if done:
                return max(done)
        return None
