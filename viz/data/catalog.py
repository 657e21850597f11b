"""Instruments the windows can show: the feed's universe hash, with the instrument master as a fallback.

The universe (``Keys.universe``: ``"SEG:ID"`` -> orjson record) is what is subscribed now, so it is what
has live data. ``--instrument`` accepts ``SEG:ID`` or a symbol (trading or custom symbol, any case).
The default instrument of the price windows is the NIFTY future with the nearest expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from shared.errors import ConfigError
from shared.events import instrument_key

__all__ = ["Instrument", "default_future", "find_instrument", "parse_universe", "pick_instrument"]


@dataclass(frozen=True, slots=True)
class Instrument:
    seg: str
    sid: int
    symbol: str
    custom_symbol: str = ""
    underlying: str = ""
    instrument: str = ""
    expiry: str | None = None
    strike: float | None = None
    option_type: str | None = None
    lot_size: int = 1
    tick_size: float = 0.05
    role: str = ""

    @property
    def key(self) -> str:
        return instrument_key(self.seg, self.sid)

    @property
    def label(self) -> str:
        """What a trader calls it: the NSE symbol for stocks and indices, the descriptive name otherwise."""
        if self.role in ("equity", "index") or self.instrument in ("EQUITY", "INDEX"):
            return self.symbol
        return self.custom_symbol or self.symbol

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Instrument:
        tick = float(rec.get("tick_size") or 0.05)
        strike = rec.get("strike")
        return cls(
            seg=str(rec["seg"]),
            sid=int(rec["sid"]),
            symbol=str(rec.get("symbol") or rec["sid"]),
            custom_symbol=str(rec.get("custom_symbol") or ""),
            underlying=str(rec.get("underlying") or ""),
            instrument=str(rec.get("instrument") or ""),
            expiry=rec.get("expiry") or None,
            strike=None if strike is None else float(strike),
            option_type=rec.get("option_type") or None,
            lot_size=int(rec.get("lot_size") or 1),
            tick_size=tick if tick > 0 else 0.05,
            role=str(rec.get("role") or ""),
        )


def parse_universe(raw: Mapping[bytes | str, bytes | str]) -> dict[str, Instrument]:
    """The universe hash as read (HGETALL) -> instruments by key; unreadable records are skipped."""
    out: dict[str, Instrument] = {}
    for value in raw.values():
        try:
            inst = Instrument.from_record(orjson.loads(value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        out[inst.key] = inst
    return out


def default_future(
    instruments: Iterable[Instrument], underlying: str = "NIFTY", today: date | None = None
) -> Instrument | None:
    """The future of ``underlying`` with the nearest expiry not before ``today``."""
    floor = (today or date.min).isoformat()
    futures = [
        i
        for i in instruments
        if i.underlying.upper() == underlying and i.instrument.startswith("FUT") and (i.expiry or "9999") >= floor
    ]
    return min(futures, key=lambda i: (i.expiry or "9999", i.sid), default=None)


def find_instrument(instruments: Mapping[str, Instrument], text: str) -> Instrument | None:
    """``SEG:ID`` or a symbol (trading or custom, case-insensitive)."""
    text = text.strip()
    if text in instruments:
        return instruments[text]
    upper = text.upper()
    for inst in instruments.values():
        if upper in (inst.symbol.upper(), inst.custom_symbol.upper()):
            return inst
    return None


def pick_instrument(instruments: Mapping[str, Instrument], wanted: str | None, today: date | None = None) -> Instrument:
    """The instrument a price window starts on; a one-line error when ``wanted`` is not subscribed."""
    if wanted:
        found = find_instrument(instruments, wanted)
        if found is None:
            raise ConfigError(
                f"instrument {wanted!r} is not in the feed's universe ({len(instruments)} instruments); "
                "give SEG:ID or a symbol the feed subscribes"
            )
        return found
    found = default_future(instruments.values(), today=today) or default_future(instruments.values())
    if found is None:
        if not instruments:
            raise ConfigError("the feed's universe is empty: start the feed (dhan feed or dhan up) first")
        return sorted(instruments.values(), key=lambda i: (i.role != "future", i.label))[0]
    return found
