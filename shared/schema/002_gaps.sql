-- Gap ledger: intervals where data is missing or an instrument was not subscribed, so charts and the
-- Control Center can shade them (shared/gaps.py). exchange_segment/security_id NULL = the whole feed
-- connection (disconnect, stall). start_ts/end_ts are true epoch seconds; end_ts NULL = still open.
-- gap_key is the natural key (events-stream entry id and instrument), so a replayed event is stored once.
CREATE TABLE IF NOT EXISTS dhan_gaps (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    gap_key VARCHAR(96) NOT NULL,
    exchange_segment VARCHAR(16) NULL,
    security_id INT UNSIGNED NULL,
    conn SMALLINT UNSIGNED NULL,
    kind ENUM('disconnect', 'stall', 'universe_out', 'universe_in') NOT NULL,
    start_ts DECIMAL(16,6) NOT NULL,
    end_ts DECIMAL(16,6) NULL,
    reason VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_gaps_key (gap_key),
    KEY ix_gaps_instrument (exchange_segment, security_id, start_ts),
    KEY ix_gaps_start (start_ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
