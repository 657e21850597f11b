"""Which instruments get 20-level (and 200-level) depth (pure: the universe and the settings in, keys out).

``DHAN_DEPTH20_INSTRUMENTS=auto`` (the default): the current (nearest) NIFTY and BANKNIFTY futures, then their
options at the ATM and the ``AUTO_STRIKES`` listed strikes either side (calls and puts), from the feed's
universe. The universe re-centres its option windows as the market moves (:mod:`feed.universe`); each change
gives a new depth set here, and :class:`~feed.fulldepth.feeds.DepthFeeds` subscribes the difference. An
underlying not yet priced has no ATM: its options join at its first centring.

Otherwise a list ``SEG:SID,SEG:SID`` (NSE_EQ or NSE_FNO only: the depth feeds are NSE only), kept as given.
``DHAN_DEPTH200_INSTRUMENT`` is one such ``SEG:SID`` or empty.
"""

from __future__ import annotations

import bisect
from datetime import date

from feed.protocol.constants import DEPTH_SEGMENTS, SEGMENT_BY_CODE
from feed.protocol.requests import Instrument
from feed.universe import OPTION_UNDERLYINGS, Member, Universe
from shared.errors import ConfigError

__all__ = ["AUTO", "AUTO_STRIKES", "auto_instruments", "parse_instruments", "wanted_depth20", "wanted_depth200"]

AUTO = "auto"
AUTO_STRIKES = 2  # listed strikes either side of the ATM
_DEPTH_SEGMENT_NAMES = frozenset(SEGMENT_BY_CODE[c] for c in DEPTH_SEGMENTS)


def parse_instruments(text: str, setting: str) -> list[Instrument]:
    """``"NSE_FNO:35001, NSE_EQ:1333"`` -> keys in order, duplicates once; :class:`ConfigError` (one line
    naming ``setting``) for anything else."""
    out: dict[Instrument, None] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        seg, sep, sid = item.partition(":")
        seg = seg.strip().upper()
        sid = sid.strip()
        if not sep or not (sid.isascii() and sid.isdigit()) or len(sid) > 10 or int(sid) > 0xFFFFFFFF:
            raise ConfigError(f"bad configuration: {setting}: {item[:40]!r} is not SEGMENT:SECURITY_ID "
                              "(e.g. NSE_FNO:35001)")
        if seg not in _DEPTH_SEGMENT_NAMES:
            raise ConfigError(f"bad configuration: {setting}: segment {seg[:20]!r} has no depth feed "
                              f"(only {', '.join(sorted(_DEPTH_SEGMENT_NAMES))})")
        out[(seg, int(sid))] = None
    return list(out)


def _front_future(members: list[Member]) -> list[Instrument]:
    futures = [m for m in members if m.role == "future"]
    if not futures:
        return []
    front = min(futures, key=lambda m: (m.info.expiry or date.max, m.info.security_id))
    return [front.key]


def _near_atm(members: list[Member], atm: float | None, strikes: int) -> list[Instrument]:
    if atm is None:
        return []
    options = [m for m in members if m.role == "option" and m.info.strike is not None]
    listed = sorted({m.info.strike for m in options if m.info.strike is not None})
    if not listed:
        return []
    i = bisect.bisect_left(listed, atm)
    picked = set(listed[max(0, i - strikes) : i + strikes + 1])
    chosen = [m for m in options if m.info.strike in picked]
    chosen.sort(key=lambda m: (m.info.strike or 0.0, m.info.option_type or "", m.info.security_id))
    return [m.key for m in chosen]


def auto_instruments(universe: Universe, strikes: int = AUTO_STRIKES) -> list[Instrument]:
    """The ``auto`` set: per option underlying, its front future, then its options ATM +/- ``strikes``."""
    by_underlying: dict[str, list[Member]] = {name: [] for name in OPTION_UNDERLYINGS}
    for m in universe.members.values():
        if m.info.segment == "NSE_FNO" and m.info.underlying in by_underlying:
            by_underlying[m.info.underlying].append(m)
    out: list[Instrument] = []
    for name, members in by_underlying.items():
        out += _front_future(members)
        out += _near_atm(members, universe.atm.get(name), strikes)
    return out


def wanted_depth20(setting: str, enabled: bool, universe: Universe | None) -> list[Instrument]:
    """What the 20-level feed should carry now, in priority order (the first ones fit the budget first)."""
    if not enabled:
        return []
    if setting.strip().lower() == AUTO:
        return auto_instruments(universe) if universe is not None else []
    return parse_instruments(setting, "DHAN_DEPTH20_INSTRUMENTS")


def wanted_depth200(setting: str) -> Instrument | None:
    """The one instrument of the 200-level feed, or None."""
    keys = parse_instruments(setting, "DHAN_DEPTH200_INSTRUMENT")
    if len(keys) > 1:
        raise ConfigError("bad configuration: DHAN_DEPTH200_INSTRUMENT: one instrument only (Dhan serves "
                          "200-level depth for one instrument per connection)")
    return keys[0] if keys else None
