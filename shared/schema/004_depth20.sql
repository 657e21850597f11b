-- 20- and 200-level market depth (dhan:depth20; writer/depth20.py). A book is one packed BLOB, not 40 rows or
-- 120 columns: the format is shared/depth_pack.py (version byte, counts, exact integer prices in a common
-- unit, varint deltas; about 4-5 bytes a level). `levels` is the feed's book depth (20, or 200 for the one
-- instrument of the 200-level feed), so both books of one instrument can be kept.

-- Latest book per instrument and depth, forward-only in (recv_ts, seq). best_bid/best_ask and the side
-- depths are copies from the book, for queries that need no unpacking (spread, empty sides).
CREATE TABLE IF NOT EXISTS dhan_depth20 (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    levels SMALLINT UNSIGNED NOT NULL,
    seq INT UNSIGNED NOT NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    best_bid DECIMAL(18,4) NULL,
    best_ask DECIMAL(18,4) NULL,
    bid_levels SMALLINT UNSIGNED NOT NULL,
    ask_levels SMALLINT UNSIGNED NOT NULL,
    book BLOB NOT NULL,
    PRIMARY KEY (exchange_segment, security_id, levels)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The book sampled every DHAN_DEPTH20_SAMPLE_S: per instrument and interval the first book received in it
-- (smallest recv_ts, then seq). sample_ms is the interval's start (epoch ms), trade_date its IST day: the
-- natural key, so a replay stores the same rows. Partitioned by month like dhan_ticks (ensure_partitions
-- splits both off pmax; retention is dropping a month, docs/scaling.md).
CREATE TABLE IF NOT EXISTS dhan_depth20_history (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    levels SMALLINT UNSIGNED NOT NULL,
    trade_date DATE NOT NULL,
    sample_ms BIGINT UNSIGNED NOT NULL,
    seq INT UNSIGNED NOT NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    book BLOB NOT NULL,
    PRIMARY KEY (exchange_segment, security_id, levels, trade_date, sample_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
PARTITION BY RANGE COLUMNS (trade_date) (
    PARTITION pmax VALUES LESS THAN (MAXVALUE)
);
