"""Which instruments the feed subscribes, and how the option windows follow the market. Pure: no I/O.

The universe is, from :class:`~shared.settings.Settings`:

- the NIFTY 50 and NIFTY BANK index values (``include_indices``), in ticker mode;
- NIFTY and BANKNIFTY futures for the nearest ``futures_expiries`` expiries not yet expired on ``today``;
- their options at the nearest expiry (NIFTY's weekly when one is listed), ATM +/- ``nifty_strikes`` /
  ``banknifty_strikes`` listed strikes, calls and puts;
- the NIFTY 50 stocks (``include_nifty50``; the list is ``feed/data/nifty50.csv``);
- MCX GOLD, SILVER, CRUDEOIL and NATURALGAS near futures (``mcx_enabled``).

Lot sizes, expiries and strikes come from the scrip master only. The strike step is read from the listed
strikes around the money (NIFTY lists 50 apart near the money and 100 further out). ATM is the listed strike
nearest the reference price, and it moves only once the price is a full step away from the current ATM, so a
price wiggling around a half-step does not churn subscriptions.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

from feed.instruments.parse import InstrumentInfo
from feed.protocol.constants import MAX_CONNECTIONS, MAX_INSTRUMENTS_PER_CONNECTION
from shared.errors import ConfigError
from shared.settings import Settings

__all__ = [
    "MAX_UNIVERSE",
    "MCX_UNDERLYINGS",
    "OPTION_UNDERLYINGS",
    "ROLES",
    "Member",
    "Universe",
    "UniverseChange",
    "UniverseSelector",
    "load_nifty50_symbols",
]

MAX_UNIVERSE = MAX_CONNECTIONS * MAX_INSTRUMENTS_PER_CONNECTION
ROLES = ("index", "future", "option", "equity", "commodity")
# Underlying -> (index trading symbol, its documented IDX_I security id).
OPTION_UNDERLYINGS: dict[str, int] = {"NIFTY": 13, "BANKNIFTY": 25}
MCX_UNDERLYINGS = ("GOLD", "SILVER", "CRUDEOIL", "NATURALGAS")
_STEP_NEIGHBOURS = 2  # strikes either side of the ATM whose spacing defines the step


def load_nifty50_symbols() -> tuple[str, ...]:
    """The NIFTY 50 constituents (NSE symbols) shipped in ``feed/data/nifty50.csv``."""
    try:
        text = resources.files("feed").joinpath("data/nifty50.csv").read_text(encoding="utf-8")
    except OSError as exc:  # an install without the package data
        raise ConfigError(f"NIFTY 50 list feed/data/nifty50.csv unreadable ({exc.strerror or exc})") from None
    rows = list(csv.reader(text.splitlines()))
    return tuple(r[0].strip() for r in rows[1:] if r and r[0].strip())


@dataclass(frozen=True, slots=True)
class Member:
    """One subscribed instrument: its master row, the feed mode to subscribe it in, and why it is there."""

    info: InstrumentInfo
    mode: str
    role: str

    @property
    def key(self) -> tuple[str, int]:
        return self.info.key


@dataclass(frozen=True)
class Universe:
    """The desired subscription set by (segment, security_id), with the ATM strike per option underlying."""

    members: dict[tuple[str, int], Member]
    atm: dict[str, float]

    def keys(self) -> set[tuple[str, int]]:
        return set(self.members)

    def count_by_role(self) -> dict[str, int]:
        counts = dict.fromkeys(ROLES, 0)
        for m in self.members.values():
            counts[m.role] = counts.get(m.role, 0) + 1
        return counts


@dataclass(frozen=True)
class UniverseChange:
    """What re-centring changes: exactly the members entering and leaving, and the universe after it.

    ``reason`` is ``initial_centre`` (an underlying got its first price), ``recentre`` (its ATM moved), or
    both joined by a comma when one check did both. ``atm_moves``: underlying -> (old ATM or None, new ATM).
    """

    added: tuple[Member, ...]
    removed: tuple[Member, ...]
    reason: str
    universe: Universe
    atm_moves: dict[str, tuple[float | None, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Chain:
    """The options of one underlying at its nearest expiry, by strike."""

    underlying: str
    expiry: date
    strikes: tuple[float, ...]  # sorted, distinct
    by_strike: dict[float, tuple[InstrumentInfo, ...]]  # CE before PE
    keys: frozenset[tuple[str, int]]
    width: int  # strikes either side of the ATM

    def atm_for(self, price: float) -> float:
        """The listed strike nearest ``price`` (the lower one on an exact tie)."""
        s = self.strikes
        i = bisect.bisect_left(s, price)
        if i == 0:
            return s[0]
        if i == len(s):
            return s[-1]
        return s[i] if s[i] - price < price - s[i - 1] else s[i - 1]

    def step_at(self, strike: float) -> float:
        """Smallest spacing of listed strikes around ``strike``: the move that shifts the ATM."""
        s = self.strikes
        if len(s) < 2:
            return math.inf
        i = min(bisect.bisect_left(s, strike), len(s) - 1)
        lo, hi = max(0, i - _STEP_NEIGHBOURS), min(len(s) - 1, i + _STEP_NEIGHBOURS)
        return min(s[j + 1] - s[j] for j in range(lo, hi))

    def window(self, atm: float) -> list[InstrumentInfo]:
        i = bisect.bisect_left(self.strikes, atm)
        picked = self.strikes[max(0, i - self.width) : i + self.width + 1]
        return [info for k in picked for info in self.by_strike[k]]


def _nearest_chain(name: str, rows: list[InstrumentInfo], width: int) -> _Chain:
    expiry = min(r.expiry or date.max for r in rows)
    near = [r for r in rows if r.expiry == expiry]
    by_strike: dict[float, list[InstrumentInfo]] = {}
    for r in near:
        by_strike.setdefault(r.strike or 0.0, []).append(r)
    return _Chain(
        underlying=name,
        expiry=expiry,
        strikes=tuple(sorted(by_strike)),
        by_strike={k: tuple(sorted(v, key=lambda r: r.option_type or "")) for k, v in by_strike.items()},
        keys=frozenset(r.key for r in near),
        width=width,
    )


def _usable_price(prices: Mapping[str, float], name: str) -> float | None:
    p = prices.get(name)
    if p is None:
        return None
    p = float(p)
    return p if math.isfinite(p) and p > 0 else None


@dataclass
class _Rows:
    """The scrip master's rows the universe can draw from, by name (underlying or symbol)."""

    indices: dict[str, list[InstrumentInfo]] = field(default_factory=dict)
    futures: dict[str, list[InstrumentInfo]] = field(default_factory=dict)
    options: dict[str, list[InstrumentInfo]] = field(default_factory=dict)
    equities: dict[str, list[InstrumentInfo]] = field(default_factory=dict)
    commodities: dict[str, list[InstrumentInfo]] = field(default_factory=dict)


def _sort_rows(instruments: Iterable[InstrumentInfo], today: date, stocks: set[str], mcx: set[str]) -> _Rows:
    """One pass over the master: the rows of each kind the settings ask for, not expired on ``today``."""
    rows = _Rows()
    for info in instruments:
        seg = info.segment
        if seg == "IDX_I":
            if info.exch_id == "NSE" and info.underlying in OPTION_UNDERLYINGS:
                rows.indices.setdefault(info.underlying, []).append(info)
        elif seg == "NSE_FNO":
            if info.underlying not in OPTION_UNDERLYINGS or info.expiry is None or info.expiry < today:
                continue
            if info.instrument == "FUTIDX":
                rows.futures.setdefault(info.underlying, []).append(info)
            elif info.instrument == "OPTIDX" and info.strike is not None:
                rows.options.setdefault(info.underlying, []).append(info)
        elif seg == "NSE_EQ":
            if info.trading_symbol in stocks:
                rows.equities.setdefault(info.trading_symbol, []).append(info)
        elif (
            seg == "MCX_COMM"
            and info.instrument == "FUTCOM"
            and info.underlying in mcx
            and info.expiry is not None
            and info.expiry >= today
        ):
            rows.commodities.setdefault(info.underlying, []).append(info)
    return rows


class UniverseSelector:
    """Builds the universe from the scrip master for one trading day, and re-centres the option windows."""

    def __init__(
        self,
        instruments: Sequence[InstrumentInfo],
        settings: Settings,
        today: date,
        *,
        nifty50: Iterable[str] | None = None,
    ) -> None:
        self._settings = settings
        self._today = today
        self._mode = settings.universe.mode
        self.notes: list[str] = []  # what was asked for but is not in the master (for the caller to log)
        stocks = (
            set(load_nifty50_symbols() if nifty50 is None else nifty50) if settings.universe.include_nifty50 else set()
        )
        mcx = set(MCX_UNDERLYINGS) if settings.universe.mcx_enabled else set()
        rows = _sort_rows(instruments, today, stocks, mcx)
        self._index = self._pick_indices(rows.indices)
        self._futures = self._pick_futures(rows.futures)
        # the members that never move, in subscription order: indices, futures, stocks, commodities
        static: dict[tuple[str, int], Member] = {}
        if settings.universe.include_indices:
            for info in self._index.values():
                static[info.key] = Member(info, "ticker", "index")
        for chosen in self._futures.values():
            for info in chosen:
                static[info.key] = self._member(info, "future")
        for info in self._pick_equities(rows.equities, stocks):
            static[info.key] = self._member(info, "equity")
        for info in self._pick_commodities(rows.commodities, mcx):
            static[info.key] = self._member(info, "commodity")
        self._static = static
        self._chains = self._option_chains(rows.options)
        _check_limit(len(static))

    # --- selection at construction (each step notes what the master lacks) ---
    def _pick_indices(self, rows: dict[str, list[InstrumentInfo]]) -> dict[str, InstrumentInfo]:
        """The index row of each option underlying: the documented id wins if several rows carry the symbol."""
        out: dict[str, InstrumentInfo] = {}
        for name, sid in OPTION_UNDERLYINGS.items():
            found = rows.get(name, [])
            if found:
                out[name] = next((r for r in found if r.security_id == sid), found[0])
            else:
                self.notes.append(f"index {name} not in the scrip master")
        return out

    def _pick_futures(self, rows: dict[str, list[InstrumentInfo]]) -> dict[str, list[InstrumentInfo]]:
        """Each option underlying's futures of the nearest ``futures_expiries`` expiries, nearest first."""
        out: dict[str, list[InstrumentInfo]] = {}
        for name in OPTION_UNDERLYINGS:
            found = rows.get(name, [])
            n_expiries = self._settings.universe.futures_expiries
            expiries = sorted({r.expiry for r in found if r.expiry is not None})[:n_expiries]
            chosen = sorted((r for r in found if r.expiry in expiries), key=lambda r: (r.expiry, r.security_id))
            if not chosen:
                self.notes.append(f"no {name} futures expiring on or after {self._today}")
            out[name] = chosen
        return out

    def _pick_equities(self, rows: dict[str, list[InstrumentInfo]], stocks: set[str]) -> list[InstrumentInfo]:
        """One row per NIFTY 50 stock, its EQ series when listed, in symbol order."""
        out: list[InstrumentInfo] = []
        for symbol in sorted(stocks):
            found = rows.get(symbol, [])
            if not found:
                self.notes.append(f"NIFTY 50 stock {symbol} not in the scrip master")
                continue
            out.append(next((r for r in found if r.series == "EQ"), found[0]))
        return out

    def _pick_commodities(self, rows: dict[str, list[InstrumentInfo]], mcx: set[str]) -> list[InstrumentInfo]:
        """The front-month future of each MCX underlying, in name order."""
        out: list[InstrumentInfo] = []
        for name in sorted(mcx):
            found = rows.get(name, [])
            if not found:
                self.notes.append(f"no MCX {name} futures expiring on or after {self._today}")
                continue
            out.append(min(found, key=lambda r: (r.expiry or date.max, r.security_id)))
        return out

    def _option_chains(self, rows: dict[str, list[InstrumentInfo]]) -> dict[str, _Chain]:
        """Each option underlying's chain at its nearest expiry, with the window width of its setting."""
        universe = self._settings.universe
        widths = {"NIFTY": universe.nifty_strikes, "BANKNIFTY": universe.banknifty_strikes}
        chains: dict[str, _Chain] = {}
        for name, width in widths.items():
            if name in rows:
                chains[name] = _nearest_chain(name, rows[name], width)
            else:
                self.notes.append(f"no {name} options expiring on or after {self._today}")
        return chains

    # --- public ---
    @property
    def option_expiries(self) -> dict[str, date]:
        """Underlying -> the expiry whose options are selected."""
        return {name: chain.expiry for name, chain in self._chains.items()}

    def initial(self, prices: Mapping[str, float]) -> Universe:
        """The universe for ``prices`` (underlying -> reference price); no options for unpriced ones."""
        members = dict(self._static)
        atm: dict[str, float] = {}
        for name, chain in self._chains.items():
            price = _usable_price(prices, name)
            if price is None:
                continue
            atm[name] = chain.atm_for(price)
            for info in chain.window(atm[name]):
                members[info.key] = self._member(info, "option")
        _check_limit(len(members))
        return Universe(members=members, atm=atm)

    def recentre(self, current: Universe, prices: Mapping[str, float]) -> UniverseChange | None:
        """Move option windows whose price is a full strike step from their ATM or newly priced; else None."""
        members = dict(current.members)
        atm = dict(current.atm)
        added: dict[tuple[str, int], Member] = {}
        removed: dict[tuple[str, int], Member] = {}
        reasons: list[str] = []
        moves: dict[str, tuple[float | None, float]] = {}
        for name, chain in self._chains.items():
            price = _usable_price(prices, name)
            if price is None:
                continue
            old = current.atm.get(name)
            if old is None:
                new, reason = chain.atm_for(price), "initial_centre"
            elif abs(price - old) < chain.step_at(old):
                continue
            else:
                new, reason = chain.atm_for(price), "recentre"
                if new == old:
                    continue
            want = {info.key: info for info in chain.window(new)}
            for key in [k for k in members if k in chain.keys and k not in want]:
                removed[key] = members.pop(key)
            for key, info in want.items():
                if key not in members:
                    members[key] = added[key] = self._member(info, "option")
            atm[name] = new
            moves[name] = (old, new)
            if reason not in reasons:
                reasons.append(reason)
        if not moves:
            return None
        _check_limit(len(members))
        return UniverseChange(
            added=tuple(added.values()),
            removed=tuple(removed.values()),
            reason=",".join(reasons),
            universe=Universe(members=members, atm=atm),
            atm_moves=moves,
        )

    def underlying_price_keys(self) -> dict[str, list[tuple[str, int]]]:
        """Underlying -> instruments whose LTP is its reference price, best first: index, then near future."""
        out: dict[str, list[tuple[str, int]]] = {}
        for name in OPTION_UNDERLYINGS:
            keys: list[tuple[str, int]] = []
            index = self._index.get(name)
            if index is not None and self._settings.universe.include_indices:
                keys.append(index.key)
            futures = self._futures.get(name, [])
            if futures:
                keys.append(futures[0].key)
            if keys:
                out[name] = keys
        return out

    def _member(self, info: InstrumentInfo, role: str) -> Member:
        return Member(info, "ticker" if info.segment == "IDX_I" else self._mode, role)


def _check_limit(count: int) -> None:
    if count > MAX_UNIVERSE:
        raise ConfigError(
            f"universe of {count} instruments exceeds Dhan's {MAX_CONNECTIONS} x "
            f"{MAX_INSTRUMENTS_PER_CONNECTION:,} = {MAX_UNIVERSE:,}: "
            "lower DHAN_NIFTY_STRIKES / DHAN_BANKNIFTY_STRIKES"
        )
