"""writer.candle_rows folds a batch's ticks exactly as shared.candles.fold_candles (the one definition), even on
hostile orders (exchange times that do not rise with cumulative volume), and renders exact values."""

from __future__ import annotations

import random

from shared.candles import DAY_S, Trade, fold_candles
from writer.candle_rows import CandleItem, candle_rows, fixed4

BASE = 1_795_600_800 - 1_795_600_800 % DAY_S + 10 * 3600  # 2026-11-25 10:00 IST (Dhan epoch)
DAY = "'2026-11-25'"


def _expected(items: list[CandleItem]) -> list[str]:
    folded = fold_candles((key[:3], Trade(ets, key[3], px4, qty, side, oi))
                          for key, px4, qty, ets, oi, _, side in items)
    out = []
    for (ikey, minute), c in sorted(folded.items()):
        s = minute % DAY_S
        values = [ikey[0], str(ikey[1]), ikey[2], str(minute),
                  f"'2026-11-25 {s // 3600:02d}:{s % 3600 // 60:02d}:00'",
                  *(fixed4(v) for v in (c.open4, c.high4, c.low4, c.close4)),
                  *(str(v) for v in (c.volume, c.buy_volume, c.sell_volume, c.trade_count)),
                  "NULL" if c.oi is None else str(c.oi), fixed4(c.turnover4),
                  *(str(v) for v in (c.vwap_den, c.base_cum_volume, c.first_cum_volume, c.last_cum_volume))]
        out.append("(" + ",".join(values) + ")")
    return out


def test_two_minutes_worked_by_hand() -> None:
    items: list[CandleItem] = [
        (("'NSE_FNO'", 7, DAY, 110), 1_000_000, 10, BASE + 1, 500, "", "B"),
        (("'NSE_FNO'", 7, DAY, 130), 1_015_000, 20, BASE + 30, None, "", "S"),
        (("'NSE_FNO'", 7, DAY, 135), 992_500, 5, BASE + 59, 520, "", ""),
        (("'NSE_FNO'", 7, DAY, 140), 1_005_000, 5, BASE + 60, 530, "", "B"),
    ]
    assert candle_rows(items) == [
        f"('NSE_FNO',7,{DAY},{BASE},'2026-11-25 10:00:00',100.0000,101.5000,99.2500,99.2500,35,10,20,3,520,"
        "3526.2500,35,100,110,135)",
        f"('NSE_FNO',7,{DAY},{BASE + 60},'2026-11-25 10:01:00',100.5000,100.5000,100.5000,100.5000,5,5,0,1,530,"
        "502.5000,5,135,140,140)",
    ]


def test_random_batches_equal_the_shared_fold() -> None:
    rng = random.Random(5)
    for _ in range(50):
        items: dict[tuple[str, int, str, int], CandleItem] = {}
        for _ in range(rng.randrange(1, 300)):
            seg = rng.choice(["'NSE_FNO'", "'MCX_COMM'"])
            sid, cum, qty = rng.randrange(1, 4), rng.randrange(1, 5000), rng.randrange(0, 60)
            key = (seg, sid, DAY, cum)
            ets = BASE + rng.randrange(0, 300)  # not rising with cum: the fold must follow cum, not time
            items[key] = (key, rng.randrange(-5_000, 2_000_000), qty, ets, rng.choice([None, 7, 9]), "",
                          rng.choice(["B", "S", ""]))
        ordered = [items[k] for k in sorted(items)]  # Batch.tick_items are in key order
        assert candle_rows(ordered) == _expected(ordered)
