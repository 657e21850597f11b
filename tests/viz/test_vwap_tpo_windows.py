"""VWAP bands and anchored VWAPs (tick chart, volume-profile chart) and the profile chart's TPO mode, offscreen on
real Redis and MariaDB."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import redis.asyncio as aioredis
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QWidget

from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.viz.helpers import OPEN, StepWriter, open_window, run_qt, ticks_run, write_universe, xadd
from tests.viz.test_windows_price import FUT, OTHER, SEG, SID, seed_seam, walk
from viz.models.vwap import SessionRule, anchored_vwap, session_vwap


def double_click(widget: QWidget, at: QPoint) -> None:
    """What a mouse sends for a double-click: press, release, double-click, release (QTest.mouseDClick alone
    sends only the third)."""
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    # PyQt6's stubs declare QTest's mouse functions with a ``self``; they are static functions
    QTest.mouseClick(widget, left, none, at)  # type: ignore[call-overload]
    QTest.mouseDClick(widget, left, none, at)  # type: ignore[call-overload]
    QTest.mouseRelease(widget, left, none, at)  # type: ignore[call-overload]


def _session_at_bar_ends(events: list[dict[str, Any]], counts: list[int]) -> npt.NDArray[np.float64]:
    ts = [e["exchange_ts"] for e in events]
    series = session_vwap(ts, [e["ltp"] for e in events], [e["qty"] for e in events], SessionRule.for_segment(SEG))
    out: npt.NDArray[np.float64] = series.vwap[np.cumsum(counts) - 1]
    return out


def test_tick_chart_draws_session_vwap_and_keeps_anchors(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.tick_chart import TickChartWindow
    from viz.windows.volume_profile_chart import VolumeProfileChartWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        mine = await seed_seam(settings, redis, 205)
        async with open_window(TickChartWindow, settings, instrument="NIFTY JUN FUT") as w:
            w.n_box.set_value(10)
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            bars = w.tick_bars.bars()
            v, s = w.vwap.session.at(np.cumsum(bars.count) - 1)
            np.testing.assert_allclose(v, _session_at_bar_ends(mine, bars.count.tolist()), atol=1e-9)
            assert (s > 0).all() and w.vwap.item.boundingRect().height() > 0
            assert any(lb.isVisible() and lb.toPlainText().startswith("VWAP 26,") for lb in w.vwap.labels)

            assert w.vwap.anchor_at(5.2) is True  # the sixth bar: its first trade is the anchor
            assert w.vwap.anchor_at(99.0) is None  # no bar there
            anchor_ts = int(bars.start_ts[5])
            assert list(w.vwap.anchors) == [anchor_ts]
            start = 50  # 10-trade bars: bar 5 begins at trade 50
            more = ticks_run(SEG, SID, walk(5, 3), start_cum=mine[-1]["volume"], ets=mine[-1]["exchange_ts"] + 1)
            await xadd(redis, keys.ticks, more)
            await eventually(lambda: len(w.ticks) == 210)
            allv = mine + more
            ref = anchored_vwap([e["ltp"] for e in allv], [e["qty"] for e in allv], start)
            np.testing.assert_allclose(w.vwap.anchors[anchor_ts].vwap, ref.vwap, atol=1e-9)
            w.frame()
            texts = [lb.toPlainText() for lb in w.vwap.labels if lb.isVisible()]
            assert any(t.startswith("AVWAP ") for t in texts)
            menu = [a.text() for a in w.vwap.menu.actions()]
            assert any(t.startswith("Remove anchor from ") for t in menu) and "Remove all anchors" in menu

            vb = w.price_plot.getViewBox()  # a real double-click on bar 7 anchors there; again: removes it
            at = w.chart.mapFromScene(vb.mapViewToScene(QPointF(7.0, float(bars.close[7]))))
            double_click(w.chart.viewport(), at)
            assert sorted(w.vwap.anchors) == [anchor_ts, int(bars.start_ts[7])]
            double_click(w.chart.viewport(), at)
            assert list(w.vwap.anchors) == [anchor_ts]

            w.vwap.show_band[3].setChecked(False)  # remembered per window
            assert w.qs.value("tick-chart/vwap/band3") == "false"
        async with open_window(VolumeProfileChartWindow, settings) as vp:  # anchors are per instrument
            await eventually(lambda: vp.loaded.is_set(), timeout_s=20)
            vp.frame()
            assert list(vp.vwap.anchors) == [anchor_ts]
            assert vp.vwap.show_band[3].isChecked()  # the tick chart's switch is its own
            periods = vp.model.periods
            v, _ = vp.vwap.session.at(np.cumsum([p.trades for p in periods]) - 1)
            np.testing.assert_allclose(v, _session_at_bar_ends(allv, [p.trades for p in periods]), atol=1e-9)
            assert vp.vwap.anchor_at(1.5) is False  # 09:20:50 is in the 09:20 period: double-click removes it
            assert vp.vwap.anchors == {}
        async with open_window(TickChartWindow, settings, instrument="NIFTY JUN FUT") as w2:
            await eventually(lambda: w2.loaded.is_set(), timeout_s=20)
            assert not w2.vwap.show_band[3].isChecked()
            assert list(w2.vwap.anchors) == []
        await redis.aclose()

    run_qt(scenario)


def test_volume_profile_chart_tpo_mode(sync_db: Settings, qt_state: Any) -> None:
    from viz.models.tpo import TpoProfile
    from viz.windows.volume_profile_chart import VolumeProfileChartWindow

    settings = sync_db
    # three trades per 30-minute period (10 minutes apart): A and B make the initial balance 99.5-101.0,
    # C extends it up to 102.0, D down to 98.5 (worked out by hand)
    prices = [100.0, 100.5, 101.0, 100.5, 100.0, 99.5, 101.0, 101.5, 102.0, 100.0, 99.0, 98.5]

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        await write_universe(redis, keys, [FUT, OTHER])
        mine = ticks_run(SEG, SID, prices, step_s=600)
        await xadd(redis, keys.ticks, mine)
        async with StepWriter(settings, redis) as sw:
            await sw.commit(await sw.deliver(8))
        async with open_window(VolumeProfileChartWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            assert [w.mode_box.itemText(i) for i in range(w.mode_box.count())] == ["Volume", "TPO"]
            w.mode_box.set_value("tpo")
            w.frame()
            assert w.recall("mode") == "tpo" and not w.closed_item.isVisible() and w.tpo.cells.isVisible()
            model = w.tpo.model
            assert model is not None and model.open_ts == OPEN
            ib = model.initial_balance()
            assert (ib.low, ib.high, ib.periods) == (99.5, 101.0, 2)
            assert [(e.letter, e.up, e.price) for e in model.extensions()] == [("C", True, 102.0), ("D", False, 98.5)]
            ref = TpoProfile(0.1, OPEN)
            for e in mine:
                ref.add(e["exchange_ts"], e["ltp"])
            k = w.rows_spin.value()
            assert model.letters(k) == ref.letters(k) and model.stats(k) == ref.stats(k)
            text = w.header.text()
            assert "TPO" in text and "lettered A-Z then a-z" in text and "by TPO count" in text
            assert "initial balance 99.50-101.00" in text and "extensions: up C, down D" in text
            assert f"single prints: {len(ref.single_prints(k))} rows" in text
            assert w.plot.getAxis("bottom").tickValues(0, 10, 800) == []
            assert w.vwap.anchor_at(0.5) is None  # x is letters in TPO mode: no anchor from a double-click

            late = ticks_run(SEG, SID, [103.0], start_cum=mine[-1]["volume"], ets=OPEN + 4 * 1800 + 5)  # period E
            await xadd(redis, keys.ticks, late)
            await eventually(lambda: len(w.ticks) == len(mine) + 1, message="live trade")
            w.frame()
            assert [e.letter for e in model.extensions()] == ["C", "D", "E"]
            assert "extensions: up C E, down D" in w.header.text()
            w.mode_box.set_value("volume")
            w.frame()
            assert w.closed_item.isVisible() and not w.tpo.cells.isVisible() and "TPO" not in w.header.text()
        await redis.aclose()

    run_qt(scenario)
