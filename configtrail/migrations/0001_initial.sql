-- configtrail schema, version 1.
--
-- Hot fields are real columns; only free-form additional data (and the configuration itself, which is
-- a free-form object by nature) is JSONB. Events and snapshots are unique on their client-supplied ids,
-- so an entry delivered twice is stored once.
--
-- Growth: interaction_events is the table that grows. The path to time partitions is to partition it
-- by RANGE (received_at) with monthly partitions and keep idempotency with a unique
-- (event_id, received_at) key plus Ingest's id window; retention then drops whole partitions. See the
-- README, "Scaling out".

CREATE TABLE user_sessions (
    session_id             text PRIMARY KEY,
    started_at             timestamptz NOT NULL,
    last_seen_at           timestamptz NOT NULL,
    ended_at               timestamptz,
    end_reason             text,
    user_agent             text NOT NULL DEFAULT '',
    device_type            text NOT NULL DEFAULT 'unspecified',
    viewport_width         integer,
    viewport_height        integer,
    referrer               text NOT NULL DEFAULT '',
    landing_page           text NOT NULL DEFAULT '',
    locale                 text NOT NULL DEFAULT '',
    status                 text NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'ordered', 'abandoned')),
    -- rollups maintained by Sync in the transaction that stores the session's events
    interaction_count      bigint NOT NULL DEFAULT 0,
    snapshot_count         bigint NOT NULL DEFAULT 0,
    last_interaction_at    timestamptz,
    last_category          text,
    last_element_id        text,
    latest_snapshot_at     timestamptz,
    latest_configuration   jsonb,
    latest_total_price_minor bigint,
    latest_currency        text,
    completion_percentage  double precision,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_sessions_started_at_idx ON user_sessions (started_at);
CREATE INDEX user_sessions_last_seen_at_idx ON user_sessions (last_seen_at);
CREATE INDEX user_sessions_status_started_idx ON user_sessions (status, started_at);

CREATE TABLE interaction_events (
    event_id          uuid PRIMARY KEY,
    session_id        text NOT NULL REFERENCES user_sessions (session_id) ON DELETE CASCADE,
    event_type        text NOT NULL,
    custom_event_type text,
    category          text NOT NULL DEFAULT '',
    element_id        text NOT NULL DEFAULT '',
    selection_value   text NOT NULL DEFAULT '',
    previous_value    text NOT NULL DEFAULT '',
    time_spent_ms     bigint NOT NULL DEFAULT 0 CHECK (time_spent_ms >= 0),
    device_type       text NOT NULL DEFAULT 'unspecified',
    viewport_width    integer,
    viewport_height   integer,
    additional_data   jsonb,
    sequence          bigint,
    -- when the visitor acted (client clock corrected by Ingest) and when Ingest accepted it
    occurred_at       timestamptz NOT NULL,
    received_at       timestamptz NOT NULL
);
CREATE INDEX interaction_events_session_time_idx ON interaction_events (session_id, occurred_at);
CREATE INDEX interaction_events_category_time_idx ON interaction_events (category, occurred_at);
CREATE INDEX interaction_events_received_at_idx ON interaction_events (received_at);

CREATE TABLE configuration_snapshots (
    snapshot_id           uuid PRIMARY KEY,
    session_id            text NOT NULL REFERENCES user_sessions (session_id) ON DELETE CASCADE,
    configuration         jsonb NOT NULL,
    total_price_minor     bigint NOT NULL,
    currency              text NOT NULL,
    completion_percentage double precision NOT NULL CHECK (completion_percentage BETWEEN 0 AND 100),
    trigger               text NOT NULL
                          CHECK (trigger IN ('auto_save', 'page_exit', 'order_attempt', 'manual')),
    additional_data       jsonb,
    occurred_at           timestamptz NOT NULL,
    received_at           timestamptz NOT NULL
);
CREATE INDEX configuration_snapshots_session_time_idx ON configuration_snapshots (session_id, occurred_at);
CREATE INDEX configuration_snapshots_trigger_time_idx ON configuration_snapshots (trigger, occurred_at);

CREATE TABLE performance_metrics (
    metric_id       uuid PRIMARY KEY,
    session_id      text REFERENCES user_sessions (session_id) ON DELETE SET NULL,
    metric_name     text NOT NULL,
    value_ms        double precision NOT NULL,
    endpoint        text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT '',
    additional_data jsonb,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL
);
CREATE INDEX performance_metrics_name_time_idx ON performance_metrics (metric_name, occurred_at);
CREATE INDEX performance_metrics_endpoint_time_idx ON performance_metrics (endpoint, occurred_at);
CREATE INDEX performance_metrics_session_idx ON performance_metrics (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE dead_letters (
    dead_letter_id bigserial PRIMARY KEY,
    stream         text NOT NULL,
    entry_id       text NOT NULL,
    -- no foreign key: the payload may not even decode, and a dead letter must outlive its session
    session_id     text,
    payload        bytea NOT NULL,
    error          text NOT NULL,
    attempts       integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at    timestamptz,
    UNIQUE (stream, entry_id)
);
CREATE INDEX dead_letters_session_idx ON dead_letters (session_id) WHERE session_id IS NOT NULL;
