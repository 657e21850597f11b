"""Generated derivative contracts for a given date: expiry calendars, strikes, symbols and security ids.

Dhan's real master lists every derivative; the packaged sample has none, so the simulator generates them in
the same shape. Facts used (public, mid-2026): NIFTY and BANKNIFTY expire on Tuesdays (NIFTY weekly, with
the month's last Tuesday as the monthly expiry; BANKNIFTY monthly only); lots NIFTY 65 and BANKNIFTY 30;
ticks 0.10 / 0.20 on index futures and 0.05 on index options; NSE's underlying ids 26000 (NIFTY) and 26009
(BANKNIFTY); MCX GOLD expires around the 5th of even months, SILVER the 5th of Mar/May/Jul/Sep/Dec, CRUDEOIL
around the 19th and NATURALGAS around the 26th. Exchange holidays are not modelled (an expiry that falls on
one is not moved). MCX underlying ids other than CRUDEOIL's 294 are made up.

Security ids are a pure function of the contract (underlying, expiry, strike, type), so a contract keeps
its id from one day to the next, like an exchange token, and ids never collide within the listed window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from shared.clock import IST

__all__ = [
    "MCX_CLOSE",
    "MONTHS",
    "NSE_CLOSE",
    "UNDERLYINGS",
    "Contract",
    "Underlying",
    "generate_contracts",
    "is_listed",
    "mcx_expiries",
    "monthly_expiry",
    "nifty_expiries",
]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NSE_CLOSE = time(15, 30)
MCX_CLOSE = time(23, 30)
_TUESDAY = 1
_WEEKS_LISTED = 4  # NIFTY weekly expiries listed ahead
_MONTHS_LISTED = 3  # monthly expiries: current, next, far
_MCX_LISTED = 2


@dataclass(frozen=True, slots=True)
class Underlying:
    """What the generator needs to know about one underlying (see the module docstring for sources)."""

    name: str
    exch: str  # NSE or MCX
    code: int  # small number used in security ids
    underlying_security_id: int  # as the detailed master's UNDERLYING_SECURITY_ID
    lot_size: int
    fut_tick: float  # rupees
    opt_tick: float = 0.05
    strike_step: float = 0.0  # 0: no options listed
    weekly: bool = False
    freeze_qty: int = 0
    index_security_id: int | None = None  # IDX_I id of the spot index (NSE only)


UNDERLYINGS: dict[str, Underlying] = {
    u.name: u
    for u in (
        Underlying("NIFTY", "NSE", 0, 26000, 65, 0.10, 0.05, 50.0, True, 1756, 13),
        Underlying("BANKNIFTY", "NSE", 1, 26009, 30, 0.20, 0.05, 100.0, False, 600, 25),
        Underlying("GOLD", "MCX", 0, 114, 1, 1.0),
        Underlying("SILVER", "MCX", 1, 229, 1, 1.0),
        Underlying("CRUDEOIL", "MCX", 2, 294, 1, 1.0),
        Underlying("NATURALGAS", "MCX", 3, 401, 1, 0.10),
    )
}


@dataclass(frozen=True, slots=True)
class Contract:
    """One generated derivative row (futures or option)."""

    underlying: Underlying
    security_id: int
    instrument: str  # FUTIDX, OPTIDX, FUTCOM
    expiry: date
    expiry_flag: str  # W or M
    strike: float | None = None
    option_type: str | None = None  # CE or PE

    @property
    def segment(self) -> str:
        return "MCX_COMM" if self.underlying.exch == "MCX" else "NSE_FNO"

    @property
    def is_option(self) -> bool:
        return self.option_type is not None

    @property
    def tick_size(self) -> float:
        return self.underlying.opt_tick if self.is_option else self.underlying.fut_tick

    @property
    def close_time(self) -> time:
        return MCX_CLOSE if self.underlying.exch == "MCX" else NSE_CLOSE

    @property
    def trading_symbol(self) -> str:
        e, name = self.expiry, self.underlying.name
        if self.underlying.exch == "MCX":
            return f"{name}-{e.day:02d}{MONTHS[e.month - 1]}{e.year}-FUT"
        if self.strike is None:
            return f"{name}-{MONTHS[e.month - 1]}{e.year}-FUT"
        return f"{name}-{MONTHS[e.month - 1]}{e.year}-{_strike_text(self.strike)}-{self.option_type}"

    @property
    def custom_symbol(self) -> str:
        e, name = self.expiry, self.underlying.name
        month = MONTHS[e.month - 1].upper()
        if self.strike is None:
            return f"{name} {month} FUT"
        kind = "CALL" if self.option_type == "CE" else "PUT"
        return f"{name} {e.day:02d} {month} {_strike_text(self.strike)} {kind}"


def _strike_text(strike: float) -> str:
    return str(int(strike)) if strike == int(strike) else f"{strike:g}"


def monthly_expiry(year: int, month: int, weekday: int = _TUESDAY) -> date:
    """Last ``weekday`` (Tuesday by default) of the month: NSE's monthly index expiry."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def is_listed(expiry: date, close: time, at_utc_epoch: float) -> bool:
    """A contract is listed until its expiry day's close (15:30 IST NSE, 23:30 IST MCX)."""
    return at_utc_epoch < datetime.combine(expiry, close, tzinfo=IST).timestamp()


def _months_from(year: int, month: int) -> Iterator[tuple[int, int]]:
    while True:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _monthlies(at_utc_epoch: float, count: int) -> list[date]:
    today = datetime.fromtimestamp(at_utc_epoch, IST).date()
    out: list[date] = []
    for y, m in _months_from(today.year, today.month):
        exp = monthly_expiry(y, m)
        if is_listed(exp, NSE_CLOSE, at_utc_epoch):
            out.append(exp)
            if len(out) == count:
                return out
    raise AssertionError("unreachable")


def nifty_expiries(at_utc_epoch: float) -> list[tuple[date, str]]:
    """NIFTY option expiries listed at ``at_utc_epoch``: the next weekly Tuesdays and three monthlies."""
    today = datetime.fromtimestamp(at_utc_epoch, IST).date()
    tuesday = today + timedelta(days=(_TUESDAY - today.weekday()) % 7)
    weeklies = [tuesday + timedelta(weeks=i) for i in range(_WEEKS_LISTED + 1)]
    weeklies = [d for d in weeklies if is_listed(d, NSE_CLOSE, at_utc_epoch)][:_WEEKS_LISTED]
    monthlies = _monthlies(at_utc_epoch, _MONTHS_LISTED)
    flagged = {d: "W" for d in weeklies}
    flagged.update({d: "M" for d in monthlies})
    for d in weeklies:  # a weekly that is also the month's last Tuesday is the monthly expiry
        if d == monthly_expiry(d.year, d.month):
            flagged[d] = "M"
    return sorted(flagged.items())


def _business_day(d: date, forward: bool) -> date:
    step = timedelta(days=1 if forward else -1)
    while d.weekday() >= 5:
        d += step
    return d


def mcx_expiries(name: str, at_utc_epoch: float, count: int = _MCX_LISTED) -> list[date]:
    """Next ``count`` MCX futures expiries of ``name`` (rules in the module docstring)."""
    today = datetime.fromtimestamp(at_utc_epoch, IST).date()
    out: list[date] = []
    for y, m in _months_from(today.year, today.month):
        if name == "GOLD":
            exp = _business_day(date(y, m, 5), False) if m % 2 == 0 else None
        elif name == "SILVER":
            exp = _business_day(date(y, m, 5), False) if m in (3, 5, 7, 9, 12) else None
        elif name == "CRUDEOIL":
            exp = _business_day(date(y, m, 19), True)
        else:
            exp = _business_day(date(y, m, 26), False)
        if exp is not None and is_listed(exp, MCX_CLOSE, at_utc_epoch):
            out.append(exp)
            if len(out) == count:
                return out
    raise AssertionError("unreachable")


# --- security ids: a pure function of the contract (see the module docstring) ---
def _future_id(u: Underlying, expiry: date) -> int:
    month_key = (expiry.year * 12 + expiry.month) % 48
    if u.exch == "MCX":
        return 430_000 + u.code * 1000 + month_key
    return 35_000 + u.code * 100 + month_key


def _option_id(u: Underlying, expiry: date, strike: float, option_type: str) -> int:
    # Tuesday expiries are a week apart: the week number modulo 16 is unique in the ~14-week window listed.
    week = (expiry.toordinal() // 7) % 16
    strike_idx = round(strike / u.strike_step) % 1000
    return 40_000 + (week * 2 + u.code) * 2000 + strike_idx * 2 + (option_type == "PE")


def _strikes(u: Underlying, centre_price: float, each_side: int) -> list[float]:
    atm = round(centre_price / u.strike_step) * u.strike_step
    return [atm + i * u.strike_step for i in range(-each_side, each_side + 1)]


def generate_contracts(
    at_utc_epoch: float,
    centre_prices: dict[str, float],
    strikes_each_side: dict[str, int] | None = None,
    *,
    mcx: bool = True,
) -> list[Contract]:
    """Every derivative listed at ``at_utc_epoch``: NIFTY and BANKNIFTY futures (3 months) and options
    (strikes around ``centre_prices``), and MCX futures when ``mcx``. Ordered by underlying, expiry,
    strike."""
    each_side = {"NIFTY": 60, "BANKNIFTY": 40, **(strikes_each_side or {})}
    out: list[Contract] = []
    monthlies = _monthlies(at_utc_epoch, _MONTHS_LISTED)
    for name in ("NIFTY", "BANKNIFTY"):
        u = UNDERLYINGS[name]
        for exp in monthlies:
            out.append(Contract(u, _future_id(u, exp), "FUTIDX", exp, "M"))
        expiries = nifty_expiries(at_utc_epoch) if u.weekly else [(d, "M") for d in monthlies]
        strikes = _strikes(u, centre_prices[name], each_side[name])
        for exp, flag in expiries:
            for k in strikes:
                for opt in ("CE", "PE"):
                    out.append(Contract(u, _option_id(u, exp, k, opt), "OPTIDX", exp, flag, k, opt))
    if mcx:
        for name in ("GOLD", "SILVER", "CRUDEOIL", "NATURALGAS"):
            u = UNDERLYINGS[name]
            for exp in mcx_expiries(name, at_utc_epoch):
                out.append(Contract(u, _future_id(u, exp), "FUTCOM", exp, "M"))
    ids = [(c.segment, c.security_id) for c in out]
    if len(set(ids)) != len(ids):  # a broken id scheme must never reach a client
        raise AssertionError("generated security ids collide")
    return out
