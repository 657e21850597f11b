"""``dhan:depth20`` events -> rows of ``dhan_depth20`` (latest) and ``dhan_depth20_history`` (sampled), pure.

An event is one merged book (FEATURES.md): ``{v, seg, sid, levels: 20|200, seq, recv_ts, bids, asks}``, each
side ``[[price, qty, orders], ...]`` best first. Every event is validated and packed (:mod:`shared.depth_pack`)
as it is added, so a bad one is that entry's poison and never a batch's.

Sampling, deterministic: receive times are whole microseconds (the DECIMAL(17,6) the table stores), the
history's key is ``(instrument, levels, trade day, sample_ms)`` with ``sample_ms`` the start of the sampling
interval the book arrived in (epoch ms, a multiple of the interval, ``DHAN_DEPTH20_SAMPLE_S``), and each
interval keeps its first book: the smallest ``(recv_ts, seq)``, the earliest delivered on a full tie. The
same order decides within a batch and in the table (``writer.sql.depth20_history_insert`` only replaces a
stored book by an earlier one), so a redelivery or a replay of the journal (which keeps receive times) stores
the same rows whichever way the entries are cut into batches. The trading day is the IST day of ``sample_ms``.
The latest table moves forward only, in ``(recv_ts, seq)``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.clock import IST_OFFSET_S
from shared.depth_pack import pack
from writer.values import NUMBER, RECV_TS_MAX, U32, bad, show

__all__ = ["BOOK_LEVELS", "Depth20Rows", "sample_ms_of"]

BOOK_LEVELS = (20, 200)
_DAY_MS = 86_400_000
_IST_MS = IST_OFFSET_S * 1000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# (recv_us, seq), packed book, best bid/ask in ten-thousandths (None when the side is empty), side depths
_Book = tuple[tuple[int, int], bytes, int | None, int | None, int, int]
_Key = tuple[str, int, int]  # segment literal, security id, levels


def sample_ms_of(recv_us: int, sample_ms: int) -> int:
    """Start (epoch ms) of the sampling interval a book received at ``recv_us`` (epoch microseconds) is in."""
    recv_ms = recv_us // 1000
    return recv_ms - recv_ms % sample_ms


def _us(recv_us: int) -> str:
    return f"{recv_us // 1_000_000}.{recv_us % 1_000_000:06d}"


def _px(px4: int | None) -> str:
    if px4 is None:
        return "NULL"
    sign = "-" if px4 < 0 else ""
    q, r = divmod(abs(px4), 10000)
    return f"{sign}{q}.{r:04d}"


class Depth20Rows:
    """Collects one batch's depth20 events: the newest book per instrument and the first one per interval."""

    def __init__(self, sample_ms: int) -> None:
        if sample_ms < 1:
            raise ValueError("the depth20 sampling interval must be at least 1 ms")
        self.sample_ms = sample_ms
        self.latest: dict[_Key, _Book] = {}
        self.history: dict[tuple[_Key, int], _Book] = {}

    def add(self, ev: dict[str, Any], seg_literal: str) -> None:
        """Validate and pack one event (``seg_literal`` is its checked segment); ``ValueError`` when bad."""
        sid, levels, seq, recv = ev["sid"], ev["levels"], ev["seq"], ev["recv_ts"]
        if type(sid) is not int or not 0 <= sid <= U32:
            raise bad("sid", sid)
        if type(levels) is not int or levels not in BOOK_LEVELS:
            raise ValueError(f"bad levels {show(levels)} (20 or 200)")
        if type(seq) is not int or not 0 <= seq <= U32:
            raise bad("seq", seq)
        if type(recv) not in NUMBER or not 0 < recv < RECV_TS_MAX:
            raise bad("recv_ts", recv)
        bids, asks = ev["bids"], ev["asks"]
        for name, side in (("bids", bids), ("asks", asks)):
            if type(side) is not list or len(side) > levels:
                raise ValueError(f"{name} must be a list of at most {levels} levels")
        blob = pack(bids, asks)
        best_bid = round(bids[0][0] * 10000) if bids else None
        best_ask = round(asks[0][0] * 10000) if asks else None
        order = (round(recv * 1_000_000), seq)
        book: _Book = (order, blob, best_bid, best_ask, len(bids), len(asks))
        key = (seg_literal, sid, levels)
        prev = self.latest.get(key)
        if prev is None or order >= prev[0]:
            self.latest[key] = book
        hkey = (key, sample_ms_of(order[0], self.sample_ms))
        first = self.history.get(hkey)
        if first is None or order < first[0]:
            self.history[hkey] = book

    def latest_rows(self) -> list[str]:
        """``dhan_depth20`` rows (``writer.sql.DEPTH20_COLUMNS``) in key order."""
        out = []
        for key in sorted(self.latest):
            seg, sid, levels = key
            (recv_us, seq), blob, bid, ask, n_bids, n_asks = self.latest[key]
            out.append(
                f"({seg},{sid:d},{levels:d},{seq:d},{_us(recv_us)},{_px(bid)},{_px(ask)},{n_bids:d},{n_asks:d},"
                f"x'{blob.hex()}')"
            )
        return out

    def history_rows(self) -> list[str]:
        """``dhan_depth20_history`` rows (``writer.sql.DEPTH20_HISTORY_COLUMNS``) in key order."""
        out = []
        days: dict[int, str] = {}
        for hkey in sorted(self.history):
            (seg, sid, levels), sample_ms = hkey
            (recv_us, seq), blob, *_ = self.history[hkey]
            day_n = (sample_ms + _IST_MS) // _DAY_MS
            day = days.get(day_n)
            if day is None:
                day = days[day_n] = _day_literal(day_n)
            out.append(f"({seg},{sid:d},{levels:d},{day},{sample_ms:d},{seq:d},{_us(recv_us)},x'{blob.hex()}')")
        return out


def _day_literal(day_n: int) -> str:
    """Days since 1970-01-01 -> ``'YYYY-MM-DD'``."""
    return f"'{date.fromordinal(_EPOCH_ORDINAL + day_n).isoformat()}'"
