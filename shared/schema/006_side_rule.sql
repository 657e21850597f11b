-- How each trade's aggressor side was inferred (the tick event's ``rule``, feed/normalise.py): 'q' the quote rule
-- (at or above the previous book's best ask: buy, at or below its best bid: sell), 't' the tick rule (against the
-- previous trade's price), '' none (side '' too, or a row stored before this column existed).
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS, so the ALTER is built only when the column is missing (idempotent on
-- both servers). A column added last with a constant default is instant on MariaDB 10.3+ and MySQL 8.0.12+.
SET @dhan_side_rule = (
    SELECT IF(COUNT(*) = 0,
              'ALTER TABLE dhan_ticks ADD COLUMN side_rule CHAR(1) NOT NULL DEFAULT ''''',
              'DO 0')
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dhan_ticks' AND COLUMN_NAME = 'side_rule'
);
PREPARE dhan_side_rule_stmt FROM @dhan_side_rule;
EXECUTE dhan_side_rule_stmt;
DEALLOCATE PREPARE dhan_side_rule_stmt;
