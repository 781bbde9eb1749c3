-- configtrail schema, version 3: erasure tombstones.
--
-- An erased session leaves a tombstone (its id, no personal data beyond it) for a configured time, so
-- events still queued in a browser that arrive later are dropped by Sync instead of bringing the
-- session back. Expired tombstones are removed by the retention job.

CREATE TABLE erased_sessions (
    session_id  text PRIMARY KEY,
    erased_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- late events dropped since the erasure
    dropped_events bigint NOT NULL DEFAULT 0
);
CREATE INDEX erased_sessions_expires_at_idx ON erased_sessions (expires_at);

-- retention deletes by arrival time, in batches
CREATE INDEX configuration_snapshots_received_at_idx ON configuration_snapshots (received_at);
CREATE INDEX performance_metrics_received_at_idx ON performance_metrics (received_at);
CREATE INDEX dead_letters_created_at_idx ON dead_letters (created_at);
