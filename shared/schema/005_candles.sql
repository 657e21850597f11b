-- One-minute candles (shared/candles.py has the rules; shared/candles_sql.py the statements): one row per
-- instrument per IST minute of exchange time, kept by the writer in the same transaction as the ticks it
-- derives from, from the ticks that transaction really inserted (never a redelivered one), so it is
-- exactly-once like them. Open/close (and OI at the close) belong to the smallest/largest cum_volume of the
-- minute; vwap_num = SUM(ltp * qty) exactly, vwap_den = SUM(qty). Partitioned by trade_date like dhan_ticks;
-- shared.schema.ensure_partitions splits both tables' monthly partitions off their pmax.
-- shared.candles_sql.CANDLE_TABLE_DDL reads this statement (tests create the table from it).
CREATE TABLE IF NOT EXISTS dhan_candles_1m (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    trade_date DATE NOT NULL,
    minute_ts INT UNSIGNED NOT NULL,          -- Dhan epoch of the minute's start (IST wall time as UTC)
    minute_ist DATETIME NOT NULL,             -- the same, readable
    open DECIMAL(18,4) NOT NULL,              -- price of the smallest cum_volume of the minute
    high DECIMAL(18,4) NOT NULL,
    low DECIMAL(18,4) NOT NULL,
    close DECIMAL(18,4) NOT NULL,             -- price of the largest cum_volume of the minute
    volume BIGINT UNSIGNED NOT NULL,
    buy_volume BIGINT UNSIGNED NOT NULL,      -- side 'B'
    sell_volume BIGINT UNSIGNED NOT NULL,     -- side 'S'
    trade_count INT UNSIGNED NOT NULL,
    oi BIGINT UNSIGNED NULL,                  -- OI of the closing trade
    vwap_num DECIMAL(28,4) NOT NULL,          -- SUM(ltp * qty), exact
    vwap_den BIGINT UNSIGNED NOT NULL,        -- SUM(qty) (= volume)
    base_cum_volume BIGINT UNSIGNED NOT NULL, -- cum_volume - qty of the first trade (at least 0)
    first_cum_volume BIGINT UNSIGNED NOT NULL,
    last_cum_volume BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (exchange_segment, security_id, trade_date, minute_ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
PARTITION BY RANGE COLUMNS (trade_date) (
    PARTITION pmax VALUES LESS THAN (MAXVALUE)
);
