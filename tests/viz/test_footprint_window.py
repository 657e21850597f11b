"""The footprint window offscreen on real Redis and MariaDB: history with each trade's rule, live trades, controls."""

from __future__ import annotations

from typing import Any

import numpy as np
import redis.asyncio as aioredis

from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.viz.helpers import StepWriter, open_window, run_qt, ticks_run, write_universe, xadd
from tests.viz.test_windows_price import FUT, OTHER, SEG, SID, walk
from viz.models.aggressor import rule_code
from viz.models.footprint import FootprintConfig, FootprintModel
from viz.models.ticks import RULE_QUOTE, RULE_TICK, SIDE_CODES


def _with_rules(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The feed's rule on each trade: every third sided trade by the tick rule, the rest by the quote."""
    for i, e in enumerate(events):
        e["rule"] = ("t" if i % 3 == 0 else "q") if e["side"] else ""
    return events


def _reference(events: list[dict[str, Any]], config: FootprintConfig) -> FootprintModel:
    model = FootprintModel(config)
    for e in events:
        model.add_trade(e["ltp"], e["qty"], SIDE_CODES[e["side"]], rule_code(e["side"], e["rule"]), e["exchange_ts"])
    return model


def test_footprint_window_history_live_and_controls(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.footprint import FootprintWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        await write_universe(redis, keys, [FUT, OTHER])
        mine = _with_rules(ticks_run(SEG, SID, walk(400)))  # 7 s apart: ~47 minutes
        await xadd(redis, keys.ticks, mine)
        async with StepWriter(settings, redis) as w:
            await w.commit(await w.deliver(300))  # in MySQL with their side_rule; the rest caught up from Redis
        async with open_window(FootprintWindow, settings, instrument="NIFTY JUN FUT") as w:
            w.bar_box.set_value("n100")
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            ref = _reference(mine, w.model.config)
            assert len(w.model.bars) == 4 == len(ref.bars)
            for i in range(4):
                got, want = w.model.view(i), ref.view(i)
                assert got.price.tolist() == want.price.tolist() and got.bid.tolist() == want.bid.tolist()
                assert got.ask.tolist() == want.ask.tolist() and got.poc == want.poc and got.stacks == want.stacks
            assert w.model.rule_volume.tolist() == ref.rule_volume.tolist()
            assert w.model.rule_volume[RULE_QUOTE] > 0 and w.model.rule_volume[RULE_TICK] > 0
            shares = ref.rule_shares()
            text = w.header.text()
            assert "INFERRED" in text and f"quote rule {100 * shares['quote rule']:.0f}%" in text
            assert f"tick rule {100 * shares['tick rule']:.0f}%" in text and "not recorded" not in text
            _, cumulative = ref.deltas()
            assert w.cum_line.getData()[1].tolist() == cumulative.astype(float).tolist()
            assert w.closed_item.boundingRect().height() > 0 and w.forming_item.boundingRect().height() > 0

            more = _with_rules(ticks_run(SEG, SID, walk(50, 4), start_cum=mine[-1]["volume"],
                                         ets=mine[-1]["exchange_ts"] + 1))
            await xadd(redis, keys.ticks, more)
            await eventually(lambda: len(w.ticks) == 450, message="live trades")
            w.frame()
            ref = _reference(mine + more, w.model.config)
            assert [b.trades for b in w.model.bars] == [100, 100, 100, 100, 50]
            assert w.model.deltas()[1].tolist() == ref.deltas()[1].tolist()

            w.bar_box.set_value("t300")  # 5-minute bars from 09:15, rebuilt from the trades held
            w.ratio_spin.setValue(300)
            w.frame()
            assert len(w.model.bars) == 11 and w.model.config.period_s == 300
            assert w.model.config.imbalance_ratio == 3.0
            ref = _reference(mine + more, w.model.config)
            assert [w.model.view(i).stacks for i in range(11)] == [ref.view(i).stacks for i in range(11)]
            assert np.array_equal(w.model.deltas()[0], ref.deltas()[0])
        async with open_window(FootprintWindow, settings, instrument="NIFTY JUN FUT") as w2:  # remembered
            assert w2.bar_box.value() == "t300" and w2.ratio_spin.value() == 300
        await redis.aclose()

    run_qt(scenario)
