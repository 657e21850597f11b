-- Each trading day's closing open interest per instrument, our own record of it: the OI of the last quote
-- received that IST day (by recv_ts), upserted by the writer in the same transaction as the quotes, so the
-- row is current all day and holds the close once the day ends. The OI windows measure today's change from
-- the previous trading day's row (viz/models/oi.py); the exchange's prev_oi is only a fallback.
-- trade_date is the IST day of recv_ts (a quote's exchange_ts is its last trade's, which for an illiquid
-- option can be days old). Forward-only in recv_ts: a redelivered or older quote changes nothing.
-- The straddle window's ATM IV over the day is solved from the stored option and future ticks with the
-- greeks service's Black-76 (viz/models/straddle_iv.py), so no greeks history table is needed.
CREATE TABLE IF NOT EXISTS dhan_oi_close (
    exchange_segment VARCHAR(16) NOT NULL,
    security_id INT UNSIGNED NOT NULL,
    trade_date DATE NOT NULL,
    oi BIGINT UNSIGNED NOT NULL,
    recv_ts DECIMAL(17,6) NOT NULL,
    PRIMARY KEY (exchange_segment, security_id, trade_date),
    KEY ix_oi_close_date (trade_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
