-- configtrail schema, version 5: a session's snapshots in their order, prices included.
--
-- PriceEvolution numbers each session's snapshots (occurred_at, ties by snapshot id) and reads every
-- snapshot of the range; with this index an index-only scan hands them over already in that order, so
-- neither the sort of every snapshot of the range nor a visit to the table is needed. SessionJourney
-- lists a session's snapshots in the same order. It supersedes the (session_id, occurred_at) index of
-- version 1 (same leading columns: the session lookups of erasure, the privacy export and the foreign
-- key's cascade use it as well), so Sync still maintains one index per snapshot for the session order.

CREATE INDEX configuration_snapshots_session_order_idx
    ON configuration_snapshots (session_id, occurred_at, snapshot_id) INCLUDE (total_price_minor, currency);
DROP INDEX configuration_snapshots_session_time_idx;
