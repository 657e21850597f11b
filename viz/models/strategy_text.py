"""The legs a user types for a combination, e.g. ``S 26100 CE 1, S 26100 PE 1, B 26300 CE, B 25900 PE``.

A leg is ``SIDE STRIKE TYPE [LOTS]``: side ``B`` (bought) or ``S`` (sold), a listed strike of the chain, ``CE``
or ``PE``, and lots (default 1); legs are separated by commas. Case and extra spaces do not matter. A leg
that names no listed contract, or a wrong count of legs, is a :class:`ValueError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Sequence

from viz.models.contracts import OptionSpec
from viz.models.strategy import MAX_LEGS, StrategyLeg

__all__ = ["parse_legs"]


def _leg(text: str, by_contract: dict[tuple[float, str], OptionSpec]) -> StrategyLeg:
    parts = text.upper().split()
    if len(parts) not in (3, 4):
        raise ValueError(f"leg {text.strip()!r}: write SIDE STRIKE TYPE [LOTS], e.g. 'S 26100 CE 1'")
    side, strike_text, option_type = parts[:3]
    if side not in ("B", "S"):
        raise ValueError(f"leg {text.strip()!r}: the side is B (bought) or S (sold)")
    try:
        strike = float(strike_text)
        lots = int(parts[3]) if len(parts) == 4 else 1
    except ValueError:
        raise ValueError(f"leg {text.strip()!r}: the strike and the lots are numbers") from None
    spec = by_contract.get((strike, option_type))
    if spec is None:
        raise ValueError(f"leg {text.strip()!r}: no {strike:g} {option_type} in this chain")
    if lots < 1:
        raise ValueError(f"leg {text.strip()!r}: at least one lot")
    return StrategyLeg(spec, "B" if side == "B" else "S", lots)


def parse_legs(text: str, specs: Sequence[OptionSpec]) -> tuple[StrategyLeg, ...]:
    """The legs of ``text`` (see the module docstring) among ``specs``; empty text gives no legs."""
    chunks = [c for c in text.split(",") if c.strip()]
    if not chunks:
        return ()
    if len(chunks) > MAX_LEGS:
        raise ValueError(f"{len(chunks)} legs: a combination has 1 to {MAX_LEGS}")
    by_contract: dict[tuple[float, str], OptionSpec] = {(s.strike, s.option_type): s for s in specs}
    return tuple(_leg(c, by_contract) for c in chunks)
