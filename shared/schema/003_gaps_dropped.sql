-- Gap kind 'dropped': events the feed gave up when Redis and the spool's disk both failed and its memory cap
-- was reached (feed/shed.py): superseded quotes/depth first, then the oldest events. One row per instrument,
-- start_ts/end_ts the receive times of its first and last dropped event. Appending to the ENUM is instant
-- and idempotent (MODIFY to the same definition changes nothing).
ALTER TABLE dhan_gaps MODIFY kind ENUM('disconnect', 'stall', 'universe_out', 'universe_in', 'dropped') NOT NULL;
