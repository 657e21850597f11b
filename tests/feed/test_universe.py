"""Universe selection and ATM re-centring on a master generated here (compact layout, through the parser)."""

from __future__ import annotations

from datetime import date
from itertools import count

import pytest

from feed.instruments.parse import InstrumentInfo, parse_scrip_master, parse_scrip_master_report
from feed.universe import MAX_UNIVERSE, UniverseSelector, load_nifty50_symbols
from shared.errors import ConfigError
from tests.conftest import DATA, make_settings

HEADER = (
    "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,SEM_TRADING_SYMBOL,"
    "SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,SEM_OPTION_TYPE,SEM_TICK_SIZE,"
    "SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,SM_SYMBOL_NAME"
)
TODAY = date(2026, 11, 11)  # a Wednesday: NIFTY's weekly of 10 Nov has expired, 17 Nov is the nearest
NIFTY_EXPIRIES = [  # (date, flag): weeklies on Tuesdays, the monthly on the last Tuesday
    (date(2026, 11, 10), "W"),
    (date(2026, 11, 17), "W"),
    (date(2026, 11, 24), "M"),
    (date(2026, 12, 1), "W"),
]
INDEX_FUT_EXPIRIES = [date(2026, 10, 27), date(2026, 11, 24), date(2026, 12, 29), date(2027, 1, 26)]
BANKNIFTY_OPT_EXPIRIES = [date(2026, 11, 24), date(2026, 12, 29)]  # monthly only
MCX_FUTURES = {  # underlying -> expiries (23:30 IST); GOLDM must not be taken for GOLD
    "GOLD": [date(2026, 12, 4), date(2027, 2, 5)],
    "GOLDM": [date(2026, 11, 30)],
    "SILVER": [date(2026, 12, 4)],
    "CRUDEOIL": [date(2026, 10, 19), date(2026, 11, 19), date(2026, 12, 17)],
    "NATURALGAS": [date(2026, 11, 24)],
}
NIFTY_LOT, BANKNIFTY_LOT = 65, 30


def _nifty_strikes() -> list[float]:
    """50 apart within 24,000..28,000, 100 apart beyond (as NSE lists them)."""
    near = [24000 + 50 * i for i in range(81)]
    far = [22000 + 100 * i for i in range(20)] + [28100 + 100 * i for i in range(20)]
    return [float(s) for s in sorted(near + far)]


def _banknifty_strikes() -> list[float]:
    return [float(50000 + 100 * i) for i in range(201)]


def _equity_rows() -> list[str]:
    """The NIFTY 50 stocks' real rows from Dhan's July 2026 master."""
    symbols = set(load_nifty50_symbols())
    lines = (
        (DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv").read_text(encoding="utf-8").splitlines()
    )
    return [ln for ln in lines if ln.startswith("NSE,E,") and ln.split(",")[5] in symbols]


def generated_master() -> str:
    ids = count(40001)
    rows = [
        "NSE,I,13,INDEX,0,NIFTY,1,Nifty 50,0001-01-01,,XX,0.05,,INDEX,X,NIFTY",
        "NSE,I,25,INDEX,0,BANKNIFTY,1,Nifty Bank,0001-01-01,,XX,0.05,,INDEX,X,BANKNIFTY",
        "NSE,I,27,INDEX,0,FINNIFTY,1,Finnifty,0001-01-01,,XX,0.05,,INDEX,X,FINNIFTY",
    ]

    def fut(exch: str, seg: str, instr: str, name: str, exp: date, lot: int, tick: str, hhmm: str) -> str:
        mon, short = exp.strftime("%b%Y"), exp.strftime("%b").upper()
        return (
            f"{exch},{seg},{next(ids)},{instr},1,{name}-{mon}-FUT,{lot},{name} {short} FUT,"
            f"{exp} {hhmm}:00,-0.01000,XX,{tick},M,FUT,NA,"
        )

    def opt(name: str, exp: date, flag: str, strike: float, kind: str, lot: int) -> str:
        mon = exp.strftime("%b%Y")
        return (
            f"NSE,D,{next(ids)},OPTIDX,1,{name}-{mon}-{strike:.0f}-{kind},{lot},"
            f"{name} {exp:%d %b} {strike:.0f} {'CALL' if kind == 'CE' else 'PUT'},{exp} 14:30:00,"
            f"{strike:.5f},{kind},5.0000,{flag},OP,NA,"
        )

    for name, lot in (("NIFTY", NIFTY_LOT), ("BANKNIFTY", BANKNIFTY_LOT)):
        rows += [fut("NSE", "D", "FUTIDX", name, e, lot, "10.0000", "14:30") for e in INDEX_FUT_EXPIRIES]
    for exp, flag in NIFTY_EXPIRIES:
        rows += [opt("NIFTY", exp, flag, k, t, NIFTY_LOT) for k in _nifty_strikes() for t in ("CE", "PE")]
    for exp in BANKNIFTY_OPT_EXPIRIES:
        rows += [
            opt("BANKNIFTY", exp, "M", k, t, BANKNIFTY_LOT)
            for k in _banknifty_strikes()
            for t in ("CE", "PE")
        ]
    for name, exps in MCX_FUTURES.items():
        rows += [fut("MCX", "M", "FUTCOM", name, e, 1, "100", "23:30") for e in exps]
    rows += _equity_rows()
    return "\n".join([HEADER, *rows]) + "\n"


@pytest.fixture(scope="module")
def master() -> list[InstrumentInfo]:
    report = parse_scrip_master_report(generated_master())
    assert report.bad_rows == 0, report.bad_examples
    return report.instruments


def _selector(master: list[InstrumentInfo], today: date = TODAY, **overrides: object) -> UniverseSelector:
    base: dict[str, object] = {"nifty_strikes": 20, "banknifty_strikes": 10, "mcx_enabled": False}
    base.update(overrides)
    return UniverseSelector(master, make_settings(**base), today)


def _options(universe_members: object, underlying: str) -> dict[tuple[float, str], InstrumentInfo]:
    members = universe_members.values()  # type: ignore[attr-defined]
    return {
        (m.info.strike, m.info.option_type): m.info
        for m in members
        if m.role == "option" and m.info.underlying == underlying
    }


def test_initial_universe_counts_and_roles(master: list[InstrumentInfo]) -> None:
    sel = _selector(master)
    uni = sel.initial({"NIFTY": 26046.95, "BANKNIFTY": 59330.0})
    counts = uni.count_by_role()
    assert counts == {"index": 2, "future": 4, "option": 2 * 41 + 2 * 21, "equity": 50, "commodity": 0}
    assert len(uni.keys()) == sum(counts.values())
    assert uni.atm == {"NIFTY": 26050.0, "BANKNIFTY": 59300.0}
    assert not sel.notes
    modes = {m.key: m.mode for m in uni.members.values()}
    assert modes[("IDX_I", 13)] == "ticker" and modes[("IDX_I", 25)] == "ticker"
    assert {m.mode for m in uni.members.values() if m.role != "index"} == {"full"}
    assert ("IDX_I", 27) not in uni.members  # FINNIFTY is not asked for


def test_nifty_options_nearest_weekly_atm_window_both_types(master: list[InstrumentInfo]) -> None:
    uni = _selector(master).initial({"NIFTY": 26046.95})
    opts = _options(uni.members, "NIFTY")
    assert {i.expiry for i in opts.values()} == {date(2026, 11, 17)}
    assert {i.expiry_flag for i in opts.values()} == {"W"}
    strikes = sorted({k for k, _ in opts})
    assert strikes == [26050.0 + 50 * i for i in range(-20, 21)]
    assert {t for _, t in opts} == {"CE", "PE"}
    assert len(opts) == 82
    assert {i.lot_size for i in opts.values()} == {NIFTY_LOT}
    assert _options(uni.members, "BANKNIFTY") == {}  # no BANKNIFTY price yet: no options
    assert "BANKNIFTY" not in uni.atm


def test_banknifty_monthly_step_100(master: list[InstrumentInfo]) -> None:
    uni = _selector(master).initial({"BANKNIFTY": 59349.0})
    opts = _options(uni.members, "BANKNIFTY")
    assert {i.expiry for i in opts.values()} == {date(2026, 11, 24)}
    assert sorted({k for k, _ in opts}) == [59300.0 + 100 * i for i in range(-10, 11)]
    assert {i.lot_size for i in opts.values()} == {BANKNIFTY_LOT}


def test_futures_current_and_next_not_expired(master: list[InstrumentInfo]) -> None:
    uni = _selector(master).initial({})
    futs = sorted((m.info.underlying, m.info.expiry) for m in uni.members.values() if m.role == "future")
    assert futs == [
        ("BANKNIFTY", date(2026, 11, 24)),
        ("BANKNIFTY", date(2026, 12, 29)),
        ("NIFTY", date(2026, 11, 24)),
        ("NIFTY", date(2026, 12, 29)),
    ]
    three = _selector(master, futures_expiries=3).initial({})
    assert sum(m.role == "future" for m in three.members.values()) == 6


def test_expiry_day_counts_as_live(master: list[InstrumentInfo]) -> None:
    uni = _selector(master, today=date(2026, 11, 17)).initial({"NIFTY": 26000.0})
    assert {i.expiry for i in _options(uni.members, "NIFTY").values()} == {date(2026, 11, 17)}
    later = _selector(master, today=date(2026, 11, 18)).initial({"NIFTY": 26000.0})
    assert {i.expiry for i in _options(later.members, "NIFTY").values()} == {date(2026, 11, 24)}


def test_strike_step_read_from_listed_strikes(master: list[InstrumentInfo]) -> None:
    # Far from the money NIFTY is listed 100 apart: the window follows the listing, not a fixed 50.
    uni = _selector(master, nifty_strikes=2).initial({"NIFTY": 29020.0})
    assert uni.atm["NIFTY"] == 29000.0
    assert sorted({k for k, _ in _options(uni.members, "NIFTY")}) == [
        28800.0,
        28900.0,
        29000.0,
        29100.0,
        29200.0,
    ]
    sel = _selector(master, nifty_strikes=2)
    # 60 above a 100-spaced ATM is not a full step: no move.
    assert sel.recentre(uni, {"NIFTY": 29060.0}) is None


def test_recentre_one_step_exact_sets(master: list[InstrumentInfo]) -> None:
    sel = _selector(master)
    uni = sel.initial({"NIFTY": 26046.95, "BANKNIFTY": 59300.0})
    change = sel.recentre(uni, {"NIFTY": 26101.0, "BANKNIFTY": 59300.0})
    assert change is not None
    assert change.reason == "recentre"
    assert change.atm_moves == {"NIFTY": (26050.0, 26100.0)}
    assert {(m.info.strike, m.info.option_type) for m in change.added} == {(27100.0, "CE"), (27100.0, "PE")}
    assert {(m.info.strike, m.info.option_type) for m in change.removed} == {(25050.0, "CE"), (25050.0, "PE")}
    assert {m.role for m in change.added + change.removed} == {"option"}
    after = change.universe
    assert after.atm == {"NIFTY": 26100.0, "BANKNIFTY": 59300.0}
    assert after.keys() == (uni.keys() | {m.key for m in change.added}) - {m.key for m in change.removed}
    assert after.keys() == sel.initial({"NIFTY": 26100.0, "BANKNIFTY": 59300.0}).keys()
    # Moving down three steps: three strikes at each end change places.
    down = sel.recentre(after, {"NIFTY": 25950.0, "BANKNIFTY": 59300.0})
    assert down is not None
    assert sorted({m.info.strike or 0.0 for m in down.added}) == [24950.0, 25000.0, 25050.0]
    assert sorted({m.info.strike or 0.0 for m in down.removed}) == [27000.0, 27050.0, 27100.0]


def test_no_recentre_on_half_step_wiggle(master: list[InstrumentInfo]) -> None:
    sel = _selector(master)
    uni = sel.initial({"NIFTY": 26050.0})
    for price in (26074.0, 26026.0, 26099.95, 26000.05, 26050.0):
        assert sel.recentre(uni, {"NIFTY": price}) is None, price
    assert sel.recentre(uni, {"NIFTY": 26100.0}) is not None


def test_initial_centre_when_price_first_appears(master: list[InstrumentInfo]) -> None:
    sel = _selector(master)
    uni = sel.initial({"NIFTY": 26050.0})
    assert sel.recentre(uni, {}) is None
    assert sel.recentre(uni, {"BANKNIFTY": float("nan")}) is None
    change = sel.recentre(uni, {"NIFTY": 26050.0, "BANKNIFTY": 59420.0})
    assert change is not None
    assert change.reason == "initial_centre"
    assert change.removed == ()
    assert {m.info.underlying for m in change.added} == {"BANKNIFTY"}
    assert len(change.added) == 42
    assert change.universe.atm["BANKNIFTY"] == 59400.0
    both = sel.recentre(uni, {"NIFTY": 26200.0, "BANKNIFTY": 59420.0})
    assert both is not None and both.reason == "recentre,initial_centre"


def test_underlying_price_keys(master: list[InstrumentInfo]) -> None:
    sel = _selector(master)
    keys = sel.underlying_price_keys()
    near = {
        i.underlying: i.key for i in master if i.instrument == "FUTIDX" and i.expiry == date(2026, 11, 24)
    }
    assert keys == {"NIFTY": [("IDX_I", 13), near["NIFTY"]], "BANKNIFTY": [("IDX_I", 25), near["BANKNIFTY"]]}
    no_index = _selector(master, include_indices=False)
    assert no_index.underlying_price_keys()["NIFTY"] == [near["NIFTY"]]
    assert no_index.initial({}).count_by_role()["index"] == 0


def test_mcx_toggle(master: list[InstrumentInfo]) -> None:
    assert _selector(master).initial({}).count_by_role()["commodity"] == 0
    uni = _selector(master, mcx_enabled=True).initial({})
    mcx = {m.info.underlying: m for m in uni.members.values() if m.role == "commodity"}
    assert set(mcx) == {"GOLD", "SILVER", "CRUDEOIL", "NATURALGAS"}
    assert mcx["GOLD"].info.expiry == date(2026, 12, 4)
    assert mcx["CRUDEOIL"].info.expiry == date(2026, 11, 19)  # October's has expired
    assert {m.info.segment for m in mcx.values()} == {"MCX_COMM"}
    assert {m.mode for m in mcx.values()} == {"full"}


def test_feed_mode_and_nifty50_toggle(master: list[InstrumentInfo]) -> None:
    uni = _selector(master, feed_mode="quote", include_nifty50=False).initial({"NIFTY": 26000.0})
    assert uni.count_by_role()["equity"] == 0
    assert {m.mode for m in uni.members.values() if m.role != "index"} == {"quote"}


def test_missing_things_are_noted_not_raised() -> None:
    items = parse_scrip_master((DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv").read_text())
    sel = UniverseSelector(items, make_settings(), TODAY)
    uni = sel.initial({"NIFTY": 26000.0})
    assert uni.count_by_role() == {"index": 2, "future": 0, "option": 0, "equity": 50, "commodity": 0}
    assert "no NIFTY options expiring on or after 2026-11-11" in sel.notes
    assert sel.underlying_price_keys() == {"NIFTY": [("IDX_I", 13)], "BANKNIFTY": [("IDX_I", 25)]}


def test_universe_over_dhan_limit_is_config_error() -> None:
    symbols = [f"S{i}" for i in range(MAX_UNIVERSE + 1)]
    rows = [f"NSE,E,{i + 1},EQUITY,0,{s},1,{s},,,,5,NA,ES,EQ,{s}" for i, s in enumerate(symbols)]
    items = parse_scrip_master("\n".join([HEADER, *rows]))
    with pytest.raises(ConfigError, match="exceeds") as err:
        UniverseSelector(items, make_settings(include_indices=False), TODAY, nifty50=symbols)
    assert "\n" not in str(err.value)
    ok = UniverseSelector(items, make_settings(include_indices=False), TODAY, nifty50=symbols[:-1])
    assert len(ok.initial({}).keys()) == MAX_UNIVERSE


def test_nifty50_list() -> None:
    symbols = load_nifty50_symbols()
    assert len(symbols) == len(set(symbols)) == 50
    assert {"RELIANCE", "HDFCBANK", "M&M", "BAJAJ-AUTO"} <= set(symbols)
