"""Quote board and option chain tables tell the view only about the cells that changed since the last frame."""

from __future__ import annotations

from typing import Any

from viz.models.board import FLASH_COLUMNS, BoardModel
from viz.models.cells import changed_runs
from viz.models.chain import ChainModel, OptionContract

FUT, STK, IDX = "NSE_FNO:1", "NSE_EQ:2", "IDX_I:3"


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def quote(ltp: float, volume: int, ets: int, **kw: Any) -> dict[str, Any]:
    return {"ltp": ltp, "volume": volume, "exchange_ts": ets, "recv_ts": 1.0, "bid": ltp - 0.1, "ask": ltp + 0.1, **kw}


def board_of(clock: FakeClock) -> BoardModel:
    board = BoardModel(clock)
    board.add_instrument(FUT, "NIFTY FUT", segment="NSE_FNO", role="future")
    board.add_instrument(STK, "AAA", segment="NSE_EQ", role="equity")
    board.add_instrument(IDX, "NIFTY", segment="IDX_I", role="index")
    board.apply(FUT, quote(100.0, 10, 50, close=99.0, oi=500, prev_oi=400))
    board.apply(STK, quote(50.0, 10, 50, close=51.0))
    board.apply(IDX, quote(26000.0, 0, 50, oi=7))
    return board


def test_changed_runs() -> None:
    assert changed_runs(["a", "b", "c", "d"], ["a", "b", "c", "d"]) == []
    assert changed_runs(["a", "b", "c", "d"], ["x", "b", "y", "z"]) == [(0, 0), (2, 3)]
    assert changed_runs(None, ["a", "b"]) == [(0, 1)]  # nothing painted yet: all of it
    assert changed_runs(["a"], ["a", "b"]) == [(0, 1)] and changed_runs(None, []) == []


def test_board_reports_only_changed_rows_and_flash_ends() -> None:
    clock = FakeClock()
    board = board_of(clock)
    assert board.take_changed(0.6) == {FUT, STK, IDX} and board.take_changed(0.6) == set()
    board.apply(FUT, quote(101.0, 12, 51))  # up: ltp, volume, bid, ask flash
    clock.t += 0.3
    board.apply(STK, quote(49.0, 11, 51))
    assert board.take_changed(0.6) == {FUT, STK}
    clock.t += 0.2
    assert board.take_changed(0.6) == set()  # both still flashing: nothing to repaint
    assert board.flash_pending
    board.apply(FUT, quote(101.0, 13, 52))  # only the volume moves: a new volume flash, the ltp's keeps its time
    assert board.take_changed(0.6) == {FUT}
    clock.t += 0.2  # FUT's first flash (ltp, bid, ask) ended; its volume flash goes on
    assert board.take_changed(0.6) == {FUT}
    view = board.view(FUT, 0.6)
    assert [bg for _, _, bg in view[1:5]] == [None, None, None, "flash_up"]  # ltp, change, % chg: off; volume on
    clock.t += 0.3  # STK's flash ended
    assert board.take_changed(0.6) == {STK}
    clock.t += 0.5  # FUT's volume flash ended
    assert board.take_changed(0.6) == {FUT} and not board.flash_pending
    assert board.take_changed(0.6) == set()


def test_board_flash_tracking_is_bounded_without_takes() -> None:
    """The terminal board applies quotes and never takes the changes: one entry per flashing cell."""
    clock = FakeClock()
    board = board_of(clock)
    board.take_changed(0.6)
    for i in range(1000):
        clock.t += 0.01
        board.apply(FUT, quote(100.0 + i % 2, 100 + i, 60 + i, oi=500 + i))
    assert len(board._flashes) == len(FLASH_COLUMNS)
    clock.t += 1.0
    assert board.take_changed(0.6) == {FUT} and not board.flash_pending


def test_board_view() -> None:
    clock = FakeClock()
    board = board_of(clock)
    fut = board.view(FUT, 0.6)
    assert [text for text, _, _ in fut] == [
        "NIFTY FUT",
        "100.00",
        "+1.00",
        "+1.01%",
        "10",
        "500",
        "+100",
        "99.90",
        "100.10",
        "00:00:50",
    ]
    assert [fg for _, fg, _ in fut] == [None, None, "up", "up", None, None, "up", None, None, None]
    assert board.view(STK, 0.6)[2][1] == "down"
    board.apply(IDX, quote(25990.0, 0, 51, oi=9))
    idx = board.view(IDX, 0.6)
    assert idx[1][2] == "flash_down" and idx[5] == ("-", None, None)  # an index's OI is blank and never flashes


def test_chain_reports_only_changed_sides() -> None:
    m = ChainModel("NIFTY", "2026-07-30")
    m.set_contracts([OptionContract(f"K{k:.0f}{t}", k, t) for k in (25900.0, 26000.0) for t in ("CE", "PE")])
    m.underlying_keys = {"FUT"}
    v = m.contracts_version
    assert m.take_dirty() == set()
    m.apply_quote("FUT", {"ltp": 26010.0})  # moves the underlying, no side
    m.apply_quote("K25900CE", {"ltp": 120.0, "exchange_ts": 5})
    m.apply_greeks("K26000PE", {"iv": 0.12, "exchange_ts": 5})
    m.apply_quote("K25900PE", {"ltp": 1.0, "exchange_ts": 5})
    assert m.take_dirty() == {"K25900CE", "K26000PE", "K25900PE"} and m.take_dirty() == set()
    assert not m.apply_quote("K25900CE", {"ltp": 1.0, "exchange_ts": 4})  # older: not applied, not dirty
    assert m.take_dirty() == set() and m.contracts_version == v
    m.set_contracts([OptionContract("K26000CE", 26000.0, "CE")])
    assert m.contracts_version == v + 1


class Spy:
    """The model's change signals as ``(first_row, first_col, last_row, last_col)`` and layout events."""

    def __init__(self, model: Any) -> None:
        self.cells: list[tuple[int, int, int, int]] = []
        self.events: list[str] = []
        model.dataChanged.connect(lambda a, b, *_: self.cells.append((a.row(), a.column(), b.row(), b.column())))
        model.layoutChanged.connect(lambda *_: self.events.append("layout"))
        model.modelReset.connect(lambda: self.events.append("reset"))

    def take(self) -> tuple[list[tuple[int, int, int, int]], list[str]]:
        out = (sorted(self.cells), self.events)
        self.cells, self.events = [], []
        return out


def paint(model: Any) -> None:
    """Read every cell as the view does when it paints."""
    for r in range(model.rowCount()):
        for c in range(model.columnCount()):
            model.cell(model.index(r, c))


def test_board_table_signals_changed_cells_only(qt_state: Any) -> None:
    from viz.widgets.board_table import FLASH_S, BoardTableModel
    from viz.widgets.theme import LIGHT

    clock = FakeClock()
    board = board_of(clock)
    model = BoardTableModel(board, clock)
    spy = Spy(model)
    model.refresh()
    assert spy.take() == ([], ["reset"]) and model.visible == [FUT, STK, IDX]
    paint(model)
    model.refresh()
    assert spy.take() == ([], [])
    board.apply(STK, quote(50.0, 12, 51, close=51.0))  # only the volume (and time) moved
    model.refresh()
    assert spy.take() == ([(1, 4, 1, 4), (1, 9, 1, 9)], [])
    assert model.cell(model.index(1, 4))[0] == "12" and model.cell(model.index(1, 4))[2] is not None  # flashing
    clock.t += FLASH_S + 0.01
    model.refresh()
    assert spy.take() == ([(1, 4, 1, 4)], [])  # the flash ended: that cell only
    assert model.cell(model.index(1, 4))[2] is None
    board.apply(FUT, quote(100.5, 11, 52))
    board.apply(IDX, quote(26001.0, 0, 52))
    model.refresh(shown=(0, 1))  # the index's row is scrolled out of sight: not signalled
    assert spy.take() == ([(0, 1, 0, 4), (0, 7, 0, 9)], [])
    assert model.cell(model.index(2, 1))[0] == "26,001.00"  # read when painted
    model.set_theme(LIGHT)  # every coloured cell changes
    assert spy.take() == ([(0, 0, 2, 9)], []) and model.cell(model.index(0, 1))[2].name() == LIGHT.flash_up


def test_board_table_sort_is_throttled_and_keeps_selection(qt_state: Any) -> None:
    from PyQt6.QtCore import QPersistentModelIndex, Qt

    from viz.widgets.board_table import RESORT_S, BoardTableModel

    clock = FakeClock()
    board = board_of(clock)
    model = BoardTableModel(board, clock)
    model.refresh()
    model.sort(1, Qt.SortOrder.DescendingOrder)  # LTP, high to low
    assert model.visible == [IDX, FUT, STK]
    selected = QPersistentModelIndex(model.index(2, 0))  # STK
    spy = Spy(model)
    board.apply(STK, quote(30000.0, 12, 51))  # now the highest
    model.refresh()
    assert model.visible == [IDX, FUT, STK] and spy.take()[1] == []  # sorted less than RESORT_S ago: cells only
    assert model.wants_frame
    clock.t += RESORT_S
    model.refresh()  # due now, even without a new quote
    assert model.visible == [STK, IDX, FUT] and spy.take()[1] == ["layout"]
    assert selected.row() == 0  # the selection follows its instrument
    clock.t += RESORT_S
    board.apply(FUT, quote(100.2, 13, 52))  # changes, same order: no re-layout
    model.refresh()
    assert spy.take()[1] == [] and model.visible == [STK, IDX, FUT]


def test_chain_table_signals_changed_cells_only(qt_state: Any) -> None:
    from viz.widgets.chain_table import ChainTableModel

    strikes = (25900.0, 26000.0, 26100.0)
    chain = ChainModel("NIFTY", "2026-07-30")
    chain.set_contracts([OptionContract(f"K{k:.0f}{t}", k, t) for k in strikes for t in ("CE", "PE")])
    chain.underlying_keys = {"FUT"}
    chain.apply_quote("FUT", {"ltp": 25980.0})
    model = ChainTableModel(chain)
    spy = Spy(model)
    assert model.refresh() and spy.take() == ([], ["reset"]) and model.rowCount() == 3
    cols = [(side, name) for side, name, _ in model.columns]
    strike_col = cols.index(("", "strike"))
    assert not model.refresh() and spy.take() == ([], [])
    chain.apply_quote("K25900CE", {"ltp": 120.0, "exchange_ts": 5})  # ltp only (no OI, volume)
    chain.apply_greeks("K26100PE", {"iv": 0.13, "delta": -0.6, "exchange_ts": 5})
    model.refresh()
    ltp_ce, iv_pe, delta_pe = cols.index(("CE", "ltp")), cols.index(("PE", "iv")), cols.index(("PE", "delta"))
    assert spy.take() == ([(0, ltp_ce, 0, ltp_ce), (2, iv_pe, 2, delta_pe)], [])
    assert model.index(0, ltp_ce).data() == "120.00" and model.index(2, iv_pe).data() == "13.00"
    # the future crosses 26000: the ATM moves from 26000 to... still 26000; 26000's call turns in the money
    chain.apply_quote("FUT", {"ltp": 26010.0})
    model.refresh()
    assert spy.take() == ([(1, 0, 1, len(cols) - 1)], [])
    chain.apply_quote("FUT", {"ltp": 26090.0})  # ATM 26000 -> 26100: both rows; no strike crossed
    model.refresh()
    assert spy.take() == ([(1, 0, 1, len(cols) - 1), (2, 0, 2, len(cols) - 1)], [])
    assert model.cell(model.index(2, strike_col))[2] is not None and model.cell(model.index(1, strike_col))[2] is None
    chain.apply_quote("K26100CE", {"ltp": 50.0, "exchange_ts": 6})
    model.refresh(shown=(0, 1))  # the 26100 row is out of sight: not signalled, read when painted
    assert spy.take() == ([], []) and model.index(2, ltp_ce).data() == "50.00"
    other = ChainModel("NIFTY", "2026-08-27")  # another expiry, same strikes: the rows reset
    other.set_contracts([OptionContract(f"N{k:.0f}{t}", k, t) for k in strikes for t in ("CE", "PE")])
    model.chain = other
    assert model.refresh() and spy.take()[1] == ["reset"] and model.index(0, ltp_ce).data() == "-"
