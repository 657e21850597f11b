"""One instrument of Dhan's scrip master, normalised (:class:`InstrumentInfo`): what the feed, the universe,
the greeks and ``dhan_instruments`` know of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["InstrumentInfo"]

@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """One row of the scrip master, normalised: feed segment name, rupee tick, parsed expiry and strike."""

    segment: str
    security_id: int
    exch_id: str
    segment_code: str
    instrument: str
    trading_symbol: str
    custom_symbol: str
    underlying: str
    expiry: date | None
    strike: float | None
    option_type: str | None
    lot_size: int
    tick_size: float
    expiry_flag: str
    series: str
    symbol_name: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.segment, self.security_id)

    @property
    def is_option(self) -> bool:
        return self.option_type is not None

    @property
    def is_future(self) -> bool:
        return self.instrument.startswith("FUT")
