"""The day-summary rows of a batch's ticks (``dhan_trade_summary`` increments), and the tick item types the
batch builder and the sink share."""

from __future__ import annotations

from typing import Any

from writer.candle_rows import fixed4

__all__ = ["TickItem", "TickKey", "fold_summary"]

TickKey = tuple[str, int, str, int]  # (segment literal, security id, trade-date literal, cum volume)
TickItem = tuple[TickKey, int, int, int, Any, str, str]  # key, price x 10^4, qty, exchange_ts, oi, row, side


def fold_summary(items: list[TickItem]) -> tuple[list[str], list[tuple[str, int, str]]]:
    """Summary increment rows (and their keys) of ticks in key order: one per (instrument, trading day)."""
    # acc: [first_cv, open4, first_ets, last_cv, close4, last_ets, oi, high4, low4, volume, turnover4, n]
    acc: dict[tuple[str, int, str], list[Any]] = {}
    for key, px4, qty, ets, oi, _, _ in items:
        cum = key[3]
        a = acc.get(key[:3])
        if a is None:
            acc[key[:3]] = [cum, px4, ets, cum, px4, ets, oi, px4, px4, qty, px4 * qty, 1]
            continue
        # items are in key order, so cum only grows within one (instrument, day)
        a[3], a[4], a[5], a[6] = cum, px4, ets, oi
        if px4 > a[7]:
            a[7] = px4
        elif px4 < a[8]:
            a[8] = px4
        a[9] += qty
        a[10] += px4 * qty
        a[11] += 1
    rows = []
    for (seg, sid, day), a in acc.items():
        turnover = fixed4(a[10])
        oi = "NULL" if a[6] is None else f"{a[6]:d}"
        rows.append(
            f"({seg},{sid:d},{day},{a[1] / 10000:.4f},{a[7] / 10000:.4f},{a[8] / 10000:.4f},"
            f"{a[4] / 10000:.4f},{a[9]:d},{turnover},ROUND({turnover}/NULLIF({a[9]:d},0),4),{oi},"
            f"{a[11]:d},{a[0]:d},{a[3]:d},{a[2]:d},{a[5]:d},UTC_TIMESTAMP(6))"
        )
    return rows, list(acc)
