"""Option contracts of one underlying and expiry, as the analytics models (OI, straddle, GEX) take them.

A window builds :class:`OptionSpec` from the universe records (``viz.data.catalog.Instrument``: strike,
option_type, lot_size, expiry) so the models stay free of I/O and of the catalog's types.

ATM: the listed strike nearest the reference price (the near-month future the greeks are priced on); on a
tie, exactly half-way between two strikes, the lower strike. This is the option chain's rule
(:meth:`viz.models.chain.ChainModel.atm_strike`), so every window marks the same ATM.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["OptionSpec", "OptionType", "atm_strike", "strikes_around"]

OptionType = Literal["CE", "PE"]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option contract: ``key`` is ``"SEG:ID"``; ``lot_size`` from the instrument master (>= 1)."""

    key: str
    strike: float
    option_type: OptionType
    lot_size: int = 1
    expiry: str = ""  # ISO date, as the universe records and greeks events carry it

    def __post_init__(self) -> None:
        if self.option_type not in ("CE", "PE"):
            raise ValueError(f"option type must be CE or PE, got {self.option_type!r}")
        if not self.strike > 0:
            raise ValueError(f"strike must be positive, got {self.strike!r}")
        if self.lot_size < 1:
            raise ValueError(f"lot size must be at least 1, got {self.lot_size!r}")


def atm_strike(strikes: Sequence[float], price: float | None) -> float | None:
    """The strike of ``strikes`` (ascending) nearest ``price``; the lower one on a tie; None without either."""
    if not strikes or price is None:
        return None
    i = bisect.bisect_left(strikes, price)
    if i == 0:
        return strikes[0]
    if i == len(strikes):
        return strikes[-1]
    lower, upper = strikes[i - 1], strikes[i]
    return lower if price - lower <= upper - price else upper


def strikes_around(strikes: Sequence[float], centre: float | None, each_side: int) -> slice:
    """The slice of ``strikes`` (ascending) holding ``centre`` and up to ``each_side`` strikes either side.

    ``centre`` is a listed strike (the ATM); a price that is not listed centres on the strike nearest it.
    Without a centre, the whole list.
    """
    if centre is None or not strikes:
        return slice(0, len(strikes))
    atm = atm_strike(strikes, centre)
    i = bisect.bisect_left(strikes, atm) if atm is not None else 0
    return slice(max(0, i - each_side), min(len(strikes), i + each_side + 1))
