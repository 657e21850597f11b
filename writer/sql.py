"""Every statement the writer sends, built once at import. Rows arrive pre-rendered by :mod:`writer.batch`.

Upserts use ``VALUES(col)`` in ``ON DUPLICATE KEY UPDATE``: the one form both MariaDB 10.11 and MySQL 8
accept (MySQL 8.0.20+ deprecates it in favour of a row alias that MariaDB rejects). Both servers assign
the update list left to right, each assignment seeing the ones before it; the forward-only guards below
rely on that, so the guard columns are assigned last, least significant first (``shared.db`` pins the
session ``sql_mode`` so MariaDB's ``SIMULTANEOUS_ASSIGNMENT`` can never be on).

Ticks are inserted with ``ON DUPLICATE KEY UPDATE cum_volume = cum_volume`` rather than ``INSERT IGNORE``:
a replayed key is a no-op counted as 0 affected rows, and ``IGNORE`` would also turn a value that does
not fit (data too long, out of range) into a silent truncation instead of an error we can dead-letter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.candles_sql import CANDLE_COLUMNS, CANDLE_TABLE, CANDLE_UPSERT_UPDATE, candles_from_ticks

__all__ = [
    "DEPTH20_COLUMNS",
    "DEPTH20_HISTORY_COLUMNS",
    "DEPTH_COLUMNS",
    "GREEKS_COLUMNS",
    "QUOTE_COLUMNS",
    "SUMMARY_COLUMNS",
    "TICK_COLUMNS",
    "Statement",
    "candle_recompute",
    "candle_upsert",
    "depth20_history_insert",
    "depth20_upsert",
    "depth_upsert",
    "existing_ticks",
    "greeks_upsert",
    "oi_close_upsert",
    "quote_upsert",
    "render_statements",
    "summary_increment",
    "summary_recompute",
    "tick_insert",
]

MAX_STATEMENT_BYTES = 1_000_000  # well under max_allowed_packet (16 MB MariaDB, 64 MB MySQL 8 defaults)

KEY = ("exchange_segment", "security_id")

TICK_COLUMNS = (
    "exchange_segment", "security_id", "trade_date", "cum_volume", "ltp", "qty", "ltq", "exchange_ts",
    "exchange_time_ist", "recv_ts", "oi", "side", "bid", "ask", "side_rule",
)  # fmt: skip

QUOTE_COLUMNS = (
    "exchange_segment", "security_id", "ltp", "ltq", "exchange_ts", "exchange_time_ist", "atp", "volume",
    "tsq", "tbq", "oi", "oi_high", "oi_low", "open", "close", "high", "low", "prev_close", "prev_oi", "bid",
    "ask", "recv_ts", "src",
)  # fmt: skip

DEPTH_COLUMNS = (
    "exchange_segment", "security_id", "exchange_ts", "exchange_time_ist", "recv_ts",
    *(f"{side}_{what}_{level}" for side in ("bid", "ask") for level in range(1, 6)
      for what in ("price", "qty", "orders")),
)  # fmt: skip

DEPTH20_COLUMNS = (
    "exchange_segment", "security_id", "levels", "seq", "recv_ts", "best_bid", "best_ask", "bid_levels",
    "ask_levels", "book",
)  # fmt: skip

DEPTH20_HISTORY_COLUMNS = (
    "exchange_segment", "security_id", "levels", "trade_date", "sample_ms", "seq", "recv_ts", "book",
)  # fmt: skip

GREEKS_COLUMNS = (
    "exchange_segment", "security_id", "underlying_segment", "underlying_security_id", "strike",
    "option_type", "expiry_date", "price", "underlying_price", "iv", "delta", "gamma", "vega", "theta", "rho",
    "exchange_ts", "exchange_time_ist", "recv_ts",
)  # fmt: skip

OI_CLOSE_COLUMNS = ("exchange_segment", "security_id", "trade_date", "oi", "recv_ts")

SUMMARY_COLUMNS = (
    "exchange_segment", "security_id", "trade_date", "open", "high", "low", "close", "volume", "turnover",
    "vwap", "oi", "tick_count", "first_cum_volume", "last_cum_volume", "first_exchange_ts",
    "last_exchange_ts", "updated_at",
)  # fmt: skip


class Statement:
    """``head`` + comma-joined rendered rows + ``tail``: one multi-row statement, chunked by size."""

    __slots__ = ("head", "tail")

    def __init__(self, head: str, tail: str) -> None:
        self.head = head
        self.tail = tail


def render_statements(stmt: Statement, rows: Sequence[str], *, max_bytes: int = MAX_STATEMENT_BYTES) -> Iterator[str]:
    """The SQL texts for ``rows``: as few statements as fit ``max_bytes`` each (rows are ASCII)."""
    start = 0
    size = len(stmt.head) + len(stmt.tail)
    for i, row in enumerate(rows):
        if i > start and size + len(row) + 1 > max_bytes:
            yield stmt.head + ",".join(rows[start:i]) + stmt.tail
            start, size = i, len(stmt.head) + len(stmt.tail)
        size += len(row) + 1
    if start < len(rows):
        yield stmt.head + ",".join(rows[start:]) + stmt.tail


def _insert_head(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({','.join(columns)}) VALUES "


def _forward_guard(order: Sequence[str]) -> str:
    """SQL: the incoming row is not older than the stored one, comparing ``order`` lexicographically.

    NULL sorts lowest; the last column (``recv_ts``) is never NULL and ties pass (a redelivered row
    rewrites the same values).
    """
    col, rest = order[0], order[1:]
    if not rest:
        return f"VALUES({col}) >= {col}"
    new, old = f"COALESCE(VALUES({col}),0)", f"COALESCE({col},0)"
    return f"({new} > {old} OR ({new} = {old} AND {_forward_guard(rest)}))"


def _forward_upsert(table: str, columns: Sequence[str], order: Sequence[str]) -> Statement:
    guard = _forward_guard(order)
    data = [c for c in columns if c not in KEY and c not in order]
    # Data columns first (the guard still sees the stored order columns), then the order columns from the
    # least significant up: once the guard held, each assignment leaves it holding for the next.
    sets = [f"{c} = IF({guard}, VALUES({c}), {c})" for c in (*data, *reversed(order))]
    return Statement(_insert_head(table, columns), " ON DUPLICATE KEY UPDATE " + ", ".join(sets))


tick_insert = Statement(_insert_head("dhan_ticks", TICK_COLUMNS), " ON DUPLICATE KEY UPDATE cum_volume = cum_volume")

# Latest quote: forward in (exchange time, day volume, receive time). Exchange time first, so a replay of
# an old journal (re-received, newer recv_ts) cannot overwrite today's state; volume orders quotes within
# one exchange second; recv_ts orders updates with neither (depth/OI changes) and makes redelivery a no-op.
quote_upsert = _forward_upsert("dhan_quotes", QUOTE_COLUMNS, ("exchange_ts", "volume", "recv_ts"))
depth_upsert = _forward_upsert("dhan_depth", DEPTH_COLUMNS, ("exchange_ts", "recv_ts"))
greeks_upsert = _forward_upsert("dhan_options_greeks", GREEKS_COLUMNS, ("exchange_ts", "recv_ts"))
# 20/200-level books carry no exchange time: forward in (receive time, the header's sequence).
depth20_upsert = _forward_upsert("dhan_depth20", DEPTH20_COLUMNS, ("recv_ts", "seq"))

# A sampling interval keeps its first book (writer/depth20.py): a stored row is replaced only by a strictly
# earlier (recv_ts, seq), so a redelivery changes nothing and batches cut differently agree. seq is assigned
# before recv_ts (least significant first, as in the forward upserts) and both are NOT NULL.
_EARLIER = "(VALUES(recv_ts) < recv_ts OR (VALUES(recv_ts) = recv_ts AND VALUES(seq) < seq))"
depth20_history_insert = Statement(
    _insert_head("dhan_depth20_history", DEPTH20_HISTORY_COLUMNS),
    " ON DUPLICATE KEY UPDATE "
    + ", ".join(f"{c} = IF({_EARLIER}, VALUES({c}), {c})" for c in ("book", "seq", "recv_ts")),
)

# The day's closing OI so far (007_oi_close.sql): the OI of the day's latest received quote, forward in recv_ts.
oi_close_upsert = Statement(
    _insert_head("dhan_oi_close", OI_CLOSE_COLUMNS),
    " ON DUPLICATE KEY UPDATE oi = IF(VALUES(recv_ts) >= recv_ts, VALUES(oi), oi), "
    "recv_ts = GREATEST(recv_ts, VALUES(recv_ts))",
)

# Increment of the day's summary by ticks this transaction inserted (never by a replay, see sink.py).
# open/first_* belong to the smallest cum_volume, close/oi/last_* to the largest: the comparisons come
# before first/last_cum_volume are moved. vwap is recomputed after volume and turnover.
summary_increment = Statement(
    _insert_head("dhan_trade_summary", SUMMARY_COLUMNS),
    " ON DUPLICATE KEY UPDATE "
    "open = IF(VALUES(first_cum_volume) < first_cum_volume, VALUES(open), open), "
    "first_exchange_ts = IF(VALUES(first_cum_volume) < first_cum_volume, VALUES(first_exchange_ts), "
    "first_exchange_ts), "
    "first_cum_volume = LEAST(first_cum_volume, VALUES(first_cum_volume)), "
    "close = IF(VALUES(last_cum_volume) > last_cum_volume, VALUES(close), close), "
    "oi = IF(VALUES(last_cum_volume) > last_cum_volume, VALUES(oi), oi), "
    "last_exchange_ts = IF(VALUES(last_cum_volume) > last_cum_volume, VALUES(last_exchange_ts), "
    "last_exchange_ts), "
    "last_cum_volume = GREATEST(last_cum_volume, VALUES(last_cum_volume)), "
    "high = GREATEST(high, VALUES(high)), "
    "low = LEAST(low, VALUES(low)), "
    "volume = volume + VALUES(volume), "
    "turnover = turnover + VALUES(turnover), "
    "tick_count = tick_count + VALUES(tick_count), "
    "vwap = ROUND(turnover / NULLIF(volume, 0), 4), "
    "updated_at = VALUES(updated_at)",
)

# The same summary recomputed from dhan_ticks for some (instrument, day) keys, as absolute values: the
# fallback when a batch's ticks were only partly new (see sink.py), and the reference the tests compare
# with. vwap uses the very expression of the incremental path, so both give identical DECIMALs.
_RECOMPUTE_HEAD = (
    "INSERT INTO dhan_trade_summary (" + ",".join(SUMMARY_COLUMNS) + ") "
    "SELECT g.exchange_segment, g.security_id, g.trade_date, f.ltp, g.high, g.low, l.ltp, g.volume, "
    "g.turnover, "
    "ROUND(g.turnover / NULLIF(g.volume, 0), 4), l.oi, g.tick_count, g.first_cv, g.last_cv, "
    "f.exchange_ts, l.exchange_ts, UTC_TIMESTAMP(6) FROM ("
    "SELECT exchange_segment, security_id, trade_date, MAX(ltp) AS high, MIN(ltp) AS low, "
    "SUM(qty) AS volume, "
    "SUM(ltp * qty) AS turnover, COUNT(*) AS tick_count, MIN(cum_volume) AS first_cv, "
    "MAX(cum_volume) AS last_cv FROM dhan_ticks WHERE "
)
_RECOMPUTE_TAIL = (
    " GROUP BY exchange_segment, security_id, trade_date) AS g "
    "JOIN dhan_ticks AS f ON f.exchange_segment = g.exchange_segment AND f.security_id = g.security_id "
    "AND f.trade_date = g.trade_date AND f.cum_volume = g.first_cv "
    "JOIN dhan_ticks AS l ON l.exchange_segment = g.exchange_segment AND l.security_id = g.security_id "
    "AND l.trade_date = g.trade_date AND l.cum_volume = g.last_cv "
    "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in SUMMARY_COLUMNS[3:])
)


def summary_recompute(keys: Sequence[tuple[str, int, str]]) -> str:
    """Recompute statement for rendered ``(segment literal, security id, date literal)`` keys."""
    where = " OR ".join(
        f"(exchange_segment = {seg} AND security_id = {sid:d} AND trade_date = {day})" for seg, sid, day in keys
    )
    return _RECOMPUTE_HEAD + where + _RECOMPUTE_TAIL


# One-minute candles: the increments of the ticks this transaction inserted (writer.candle_rows), merged into
# the stored rows as shared.candles.Candle.merge does (shared.candles_sql has the rules).
candle_upsert = Statement(_insert_head(CANDLE_TABLE, CANDLE_COLUMNS), CANDLE_UPSERT_UPDATE)


def candle_recompute(keys: Sequence[tuple[str, int, str]]) -> list[str]:
    """Statements replacing the candles of rendered ``(segment literal, security id, date literal)`` keys by
    their recomputation from ``dhan_ticks`` (absolute values; the sink's last resort and ``dhan verify
    --repair``). Run inside one transaction: the delete and the insert lock the same rows."""
    where = " OR ".join(
        f"(exchange_segment = {seg} AND security_id = {sid:d} AND trade_date = {day})" for seg, sid, day in keys
    )
    return [
        f"DELETE FROM {CANDLE_TABLE} WHERE {where}",
        f"INSERT INTO {CANDLE_TABLE} ({','.join(CANDLE_COLUMNS)}) {candles_from_ticks(where)}",
    ]


def existing_ticks(keys: Sequence[tuple[str, int, str, int]]) -> str:
    """Locking read of which rendered tick keys are already stored (the partial-replay path, sink.py).

    ``FOR UPDATE`` also locks the gaps of absent keys, so no other writer can insert them before we do.
    """
    by_day: dict[tuple[str, int, str], list[str]] = {}
    for seg, sid, day, cum in keys:
        by_day.setdefault((seg, sid, day), []).append(f"{cum:d}")
    where = " OR ".join(
        f"(exchange_segment = {seg} AND security_id = {sid:d} AND trade_date = {day} "
        f"AND cum_volume IN ({','.join(cums)}))"
        for (seg, sid, day), cums in by_day.items()
    )
    return f"SELECT exchange_segment, security_id, trade_date, cum_volume FROM dhan_ticks WHERE {where} FOR UPDATE"
