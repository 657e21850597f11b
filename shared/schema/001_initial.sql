-- dhan-trading schema, version 1. Runs on MySQL 8.0 and MariaDB 10.11 alike.
--
-- Every market-data table is keyed by the instrument (exchange_segment, security_id): security ids repeat
-- across segments. Prices are DECIMAL(18,4) (currency ticks are 0.0025, so four places are exact);
-- exchange_ts is Dhan's epoch verbatim (IST wall time counted as UTC), exchange_time_ist its DATETIME
-- form, recv_ts our receive time (epoch seconds with microseconds). *_at columns are UTC.
-- Statements are separated by a semicolon at the end of a line (see shared/schema/__init__.py), and each
-- one is idempotent, so a migration interrupted half-way is simply run again.

-- Instrument master (written by the instrument loader; columns fixed by the contract).
CREATE TABLE IF NOT EXISTS dhan_instruments (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    exch_id VARCHAR(8) NOT NULL DEFAULT '',
    segment_code CHAR(1) NOT NULL DEFAULT '',
    instrument VARCHAR(16) NOT NULL DEFAULT '',
    trading_symbol VARCHAR(96) NOT NULL DEFAULT '',
    custom_symbol VARCHAR(160) NOT NULL DEFAULT '',
    underlying VARCHAR(48) NOT NULL DEFAULT '',
    expiry_date DATE NULL,
    strike DECIMAL(16,4) NULL,
    option_type CHAR(2) NULL,
    lot_size INT UNSIGNED NOT NULL DEFAULT 1,
    tick_size DECIMAL(12,6) NOT NULL DEFAULT 0.05,
    expiry_flag VARCHAR(4) NOT NULL DEFAULT '',
    series VARCHAR(16) NOT NULL DEFAULT '',
    symbol_name VARCHAR(160) NOT NULL DEFAULT '',
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (exchange_segment, security_id),
    KEY ix_instruments_chain (underlying, expiry_date, option_type, strike),
    KEY ix_instruments_expiry (expiry_date),
    KEY ix_instruments_symbol (trading_symbol)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Latest quote per instrument. The writer's upsert only moves forward in (exchange_ts, volume, recv_ts).
CREATE TABLE IF NOT EXISTS dhan_quotes (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    ltp DECIMAL(18,4) NULL,
    ltq INT UNSIGNED NULL,
    exchange_ts INT UNSIGNED NULL,
    exchange_time_ist DATETIME NULL,
    atp DECIMAL(18,4) NULL,
    volume BIGINT UNSIGNED NULL,
    tsq BIGINT UNSIGNED NULL,
    tbq BIGINT UNSIGNED NULL,
    oi BIGINT UNSIGNED NULL,
    oi_high BIGINT UNSIGNED NULL,
    oi_low BIGINT UNSIGNED NULL,
    open DECIMAL(18,4) NULL,
    close DECIMAL(18,4) NULL,
    high DECIMAL(18,4) NULL,
    low DECIMAL(18,4) NULL,
    prev_close DECIMAL(18,4) NULL,
    prev_oi BIGINT UNSIGNED NULL,
    bid DECIMAL(18,4) NULL,
    ask DECIMAL(18,4) NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    src VARCHAR(16) NOT NULL DEFAULT '',
    PRIMARY KEY (exchange_segment, security_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Latest 5-level depth per instrument, one typed column per level and side (not JSON): exact DECIMAL
-- prices, directly queryable (spread = ask_price_1 - bid_price_1), smaller than JSON text, and the same
-- on both servers (MariaDB's JSON is a LONGTEXT alias, MySQL's a binary type).
CREATE TABLE IF NOT EXISTS dhan_depth (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    exchange_ts INT UNSIGNED NULL,
    exchange_time_ist DATETIME NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    bid_price_1 DECIMAL(18,4) NULL, bid_qty_1 INT UNSIGNED NULL, bid_orders_1 INT UNSIGNED NULL,
    bid_price_2 DECIMAL(18,4) NULL, bid_qty_2 INT UNSIGNED NULL, bid_orders_2 INT UNSIGNED NULL,
    bid_price_3 DECIMAL(18,4) NULL, bid_qty_3 INT UNSIGNED NULL, bid_orders_3 INT UNSIGNED NULL,
    bid_price_4 DECIMAL(18,4) NULL, bid_qty_4 INT UNSIGNED NULL, bid_orders_4 INT UNSIGNED NULL,
    bid_price_5 DECIMAL(18,4) NULL, bid_qty_5 INT UNSIGNED NULL, bid_orders_5 INT UNSIGNED NULL,
    ask_price_1 DECIMAL(18,4) NULL, ask_qty_1 INT UNSIGNED NULL, ask_orders_1 INT UNSIGNED NULL,
    ask_price_2 DECIMAL(18,4) NULL, ask_qty_2 INT UNSIGNED NULL, ask_orders_2 INT UNSIGNED NULL,
    ask_price_3 DECIMAL(18,4) NULL, ask_qty_3 INT UNSIGNED NULL, ask_orders_3 INT UNSIGNED NULL,
    ask_price_4 DECIMAL(18,4) NULL, ask_qty_4 INT UNSIGNED NULL, ask_orders_4 INT UNSIGNED NULL,
    ask_price_5 DECIMAL(18,4) NULL, ask_qty_5 INT UNSIGNED NULL, ask_orders_5 INT UNSIGNED NULL,
    PRIMARY KEY (exchange_segment, security_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every trade once. The natural key is the cumulative day volume (the per-instrument sequence: Dhan's
-- exchange time has whole seconds only), so a replayed entry hits the same key and changes nothing.
-- The primary key leads with the instrument and the day: "one instrument, one day" is one range scan,
-- and RANGE COLUMNS partitions by month keep old months cheap to archive or drop. pmax catches anything
-- beyond the last monthly partition, so an insert never fails for want of a partition; the monthly
-- partitions ahead are split off it by shared.schema.ensure_partitions (dhan db init, and the writer).
CREATE TABLE IF NOT EXISTS dhan_ticks (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    trade_date DATE NOT NULL,
    cum_volume BIGINT UNSIGNED NOT NULL,
    ltp DECIMAL(18,4) NOT NULL,
    qty BIGINT UNSIGNED NOT NULL,
    ltq INT UNSIGNED NULL,
    exchange_ts INT UNSIGNED NOT NULL,
    exchange_time_ist DATETIME NOT NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    oi BIGINT UNSIGNED NULL,
    side CHAR(1) NOT NULL DEFAULT '',
    bid DECIMAL(18,4) NULL,
    ask DECIMAL(18,4) NULL,
    PRIMARY KEY (exchange_segment, security_id, trade_date, cum_volume)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
PARTITION BY RANGE COLUMNS (trade_date) (
    PARTITION pmax VALUES LESS THAN (MAXVALUE)
);

-- One row per instrument per trading day, kept current by the writer in the same transaction as the
-- ticks it derives from. turnover = SUM(ltp * qty) exactly, so vwap = turnover / volume can be kept
-- incrementally; open/close belong to the smallest/largest cum_volume seen.
CREATE TABLE IF NOT EXISTS dhan_trade_summary (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    trade_date DATE NOT NULL,
    open DECIMAL(18,4) NOT NULL,
    high DECIMAL(18,4) NOT NULL,
    low DECIMAL(18,4) NOT NULL,
    close DECIMAL(18,4) NOT NULL,
    volume BIGINT UNSIGNED NOT NULL,
    turnover DECIMAL(28,4) NOT NULL,
    vwap DECIMAL(18,4) NULL,
    oi BIGINT UNSIGNED NULL,
    tick_count INT UNSIGNED NOT NULL,
    first_cum_volume BIGINT UNSIGNED NOT NULL,
    last_cum_volume BIGINT UNSIGNED NOT NULL,
    first_exchange_ts INT UNSIGNED NOT NULL,
    last_exchange_ts INT UNSIGNED NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (exchange_segment, security_id, trade_date),
    KEY ix_summary_date (trade_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Latest greeks per option (the greeks service's events), same forward-only upsert as quotes.
CREATE TABLE IF NOT EXISTS dhan_options_greeks (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    underlying_segment VARCHAR(16) NULL,
    underlying_security_id INT UNSIGNED NULL,
    strike DECIMAL(16,4) NULL,
    option_type CHAR(2) NULL,
    expiry_date DATE NULL,
    price DECIMAL(18,4) NULL,
    underlying_price DECIMAL(18,4) NULL,
    iv DOUBLE NULL,
    delta DOUBLE NULL,
    gamma DOUBLE NULL,
    vega DOUBLE NULL,
    theta DOUBLE NULL,
    rho DOUBLE NULL,
    exchange_ts INT UNSIGNED NULL,
    exchange_time_ist DATETIME NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    PRIMARY KEY (exchange_segment, security_id),
    KEY ix_greeks_chain (underlying_segment, underlying_security_id, expiry_date, strike)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
