-- configtrail schema, version 4: what the Metrics analytics queries need to stay fast on millions of events.
--
-- Indexes for the funnel (candidate events per step), time-range scans and keyset paging, and two hourly
-- rollups kept exact by statement-level triggers in the transaction that writes the rows (Sync's batch
-- transaction): interactions per hour, event type, category and selected option; snapshots and their
-- price sums per hour, configuration category, option and currency. A redelivered entry is not inserted
-- (ON CONFLICT DO NOTHING), so it is not in the transition table and is not counted twice; deleting rows
-- (erasing a session cascades) subtracts them, except when the deleting transaction sets
-- configtrail.keep_rollups = 'on' (the retention job: raw rows expire, their hourly history stays until
-- rollup retention); TRUNCATE empties the rollups too.
--
-- Hour buckets are UTC hours (date_bin from a UTC origin, whatever the session time zone). The analytics
-- read whole hours from a rollup and the partial hours at both ends of a range from the raw rows.
-- Rollup keys are unique on md5 of the free-form texts: a category or option may be longer than a btree
-- entry can hold.

CREATE INDEX interaction_events_type_category_time_idx
    ON interaction_events (event_type, category, occurred_at) INCLUDE (session_id);
CREATE INDEX interaction_events_occurred_at_idx ON interaction_events (occurred_at);
CREATE INDEX configuration_snapshots_occurred_at_idx ON configuration_snapshots (occurred_at);
CREATE INDEX configuration_snapshots_trigger_time_session_idx
    ON configuration_snapshots (trigger, occurred_at) INCLUDE (session_id);
DROP INDEX configuration_snapshots_trigger_time_idx;
CREATE INDEX configuration_snapshots_order_attempt_idx
    ON configuration_snapshots (session_id) WHERE trigger = 'order_attempt';
-- performance summaries over the last minutes, whatever the metric
CREATE INDEX performance_metrics_occurred_at_idx ON performance_metrics (occurred_at);
-- keyset paging of ListSessions, (started_at, session_id) descending; supersedes the started_at index
CREATE INDEX user_sessions_started_session_idx ON user_sessions (started_at, session_id);
DROP INDEX user_sessions_started_at_idx;

-- The hour an event or snapshot counts in.
CREATE FUNCTION configtrail_hour(ts timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_bin('1 hour', ts, timestamptz '2000-01-01 00:00:00+00');

-- The (category, option) pairs of a snapshot configuration: its top-level keys with their values as
-- text (strings unquoted, anything else as JSON text). JSON nulls and non-object configurations give none.
CREATE FUNCTION configtrail_configuration_options(configuration jsonb)
    RETURNS TABLE (category text, option text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT o.key, o.value
    FROM jsonb_each_text(CASE WHEN jsonb_typeof(configuration) = 'object' THEN configuration
                              ELSE '{}'::jsonb END) AS o(key, value)
    WHERE o.value IS NOT NULL;
END;

CREATE TABLE interaction_rollup_hourly (
    bucket          timestamptz NOT NULL,
    event_type      text NOT NULL,
    category        text NOT NULL,
    -- the selected option of 'selection' events, '' for every other type
    selection_value text NOT NULL,
    interactions    bigint NOT NULL
);
CREATE UNIQUE INDEX interaction_rollup_hourly_key
    ON interaction_rollup_hourly (bucket, event_type, md5(category), md5(selection_value));

CREATE TABLE snapshot_option_rollup_hourly (
    bucket          timestamptz NOT NULL,
    category        text NOT NULL,
    option          text NOT NULL,
    currency        text NOT NULL,
    snapshots       bigint NOT NULL,
    price_sum_minor numeric NOT NULL
);
CREATE UNIQUE INDEX snapshot_option_rollup_hourly_key
    ON snapshot_option_rollup_hourly (bucket, md5(category), md5(option), currency);

-- Every writer locks rollup keys in one order (the ORDER BY), so concurrent Sync transactions wait for
-- each other instead of deadlocking. An UPDATE subtracts the old rows and adds the new ones.
CREATE FUNCTION configtrail_rollup_interactions() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('configtrail.keep_rollups', true) = 'on' THEN
        RETURN NULL;  -- retention deletes raw rows but keeps their aggregated history
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO interaction_rollup_hourly AS r (bucket, event_type, category, selection_value, interactions)
        SELECT configtrail_hour(d.occurred_at), d.event_type, d.category, d.value, -count(*)
        FROM (SELECT occurred_at, event_type, category,
                     CASE WHEN event_type = 'selection' THEN selection_value ELSE '' END AS value
              FROM old_rows) AS d
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, md5(d.category), md5(d.value)
        ON CONFLICT (bucket, event_type, md5(category), md5(selection_value))
        DO UPDATE SET interactions = r.interactions + excluded.interactions;
        -- keys whose rows are all gone (retention, erasure) leave no zero rows behind
        DELETE FROM interaction_rollup_hourly AS r
        USING (SELECT DISTINCT configtrail_hour(occurred_at) AS bucket FROM old_rows) AS d
        WHERE r.bucket = d.bucket AND r.interactions = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO interaction_rollup_hourly AS r (bucket, event_type, category, selection_value, interactions)
        SELECT configtrail_hour(d.occurred_at), d.event_type, d.category, d.value, count(*)
        FROM (SELECT occurred_at, event_type, category,
                     CASE WHEN event_type = 'selection' THEN selection_value ELSE '' END AS value
              FROM new_rows) AS d
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, md5(d.category), md5(d.value)
        ON CONFLICT (bucket, event_type, md5(category), md5(selection_value))
        DO UPDATE SET interactions = r.interactions + excluded.interactions;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION configtrail_rollup_snapshots() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('configtrail.keep_rollups', true) = 'on' THEN
        RETURN NULL;  -- retention deletes raw rows but keeps their aggregated history
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO snapshot_option_rollup_hourly AS r (bucket, category, option, currency, snapshots,
                                                        price_sum_minor)
        SELECT configtrail_hour(s.occurred_at), o.category, o.option, s.currency, -count(*),
               -sum(s.total_price_minor)
        FROM old_rows AS s CROSS JOIN LATERAL configtrail_configuration_options(s.configuration) AS o
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, md5(o.category), md5(o.option), 4
        ON CONFLICT (bucket, md5(category), md5(option), currency)
        DO UPDATE SET snapshots = r.snapshots + excluded.snapshots,
                      price_sum_minor = r.price_sum_minor + excluded.price_sum_minor;
        DELETE FROM snapshot_option_rollup_hourly AS r
        USING (SELECT DISTINCT configtrail_hour(occurred_at) AS bucket FROM old_rows) AS d
        WHERE r.bucket = d.bucket AND r.snapshots = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO snapshot_option_rollup_hourly AS r (bucket, category, option, currency, snapshots,
                                                        price_sum_minor)
        SELECT configtrail_hour(s.occurred_at), o.category, o.option, s.currency, count(*),
               sum(s.total_price_minor)
        FROM new_rows AS s CROSS JOIN LATERAL configtrail_configuration_options(s.configuration) AS o
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, md5(o.category), md5(o.option), 4
        ON CONFLICT (bucket, md5(category), md5(option), currency)
        DO UPDATE SET snapshots = r.snapshots + excluded.snapshots,
                      price_sum_minor = r.price_sum_minor + excluded.price_sum_minor;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION configtrail_truncate_rollups() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'interaction_events' THEN
        TRUNCATE interaction_rollup_hourly;
    ELSE
        TRUNCATE snapshot_option_rollup_hourly;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER interaction_events_rollup_insert AFTER INSERT ON interaction_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION configtrail_rollup_interactions();
CREATE TRIGGER interaction_events_rollup_update AFTER UPDATE ON interaction_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION configtrail_rollup_interactions();
CREATE TRIGGER interaction_events_rollup_delete AFTER DELETE ON interaction_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION configtrail_rollup_interactions();
CREATE TRIGGER interaction_events_rollup_truncate AFTER TRUNCATE ON interaction_events
    FOR EACH STATEMENT EXECUTE FUNCTION configtrail_truncate_rollups();

CREATE TRIGGER configuration_snapshots_rollup_insert AFTER INSERT ON configuration_snapshots
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION configtrail_rollup_snapshots();
CREATE TRIGGER configuration_snapshots_rollup_update AFTER UPDATE ON configuration_snapshots
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION configtrail_rollup_snapshots();
CREATE TRIGGER configuration_snapshots_rollup_delete AFTER DELETE ON configuration_snapshots
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION configtrail_rollup_snapshots();
CREATE TRIGGER configuration_snapshots_rollup_truncate AFTER TRUNCATE ON configuration_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION configtrail_truncate_rollups();

-- rows stored before this migration (the triggers above already hold the tables' locks, so nothing is
-- inserted in between)
INSERT INTO interaction_rollup_hourly (bucket, event_type, category, selection_value, interactions)
SELECT configtrail_hour(occurred_at), event_type, category,
       CASE WHEN event_type = 'selection' THEN selection_value ELSE '' END, count(*)
FROM interaction_events
GROUP BY 1, 2, 3, 4;

INSERT INTO snapshot_option_rollup_hourly (bucket, category, option, currency, snapshots, price_sum_minor)
SELECT configtrail_hour(s.occurred_at), o.category, o.option, s.currency, count(*), sum(s.total_price_minor)
FROM configuration_snapshots AS s CROSS JOIN LATERAL configtrail_configuration_options(s.configuration) AS o
GROUP BY 1, 2, 3, 4;
