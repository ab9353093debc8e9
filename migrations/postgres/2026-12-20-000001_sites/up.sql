-- Sites (offices) are first-class: every row belongs to one site, and counter, source and
-- ticket ids are unique within a site only. Rows of a database from before sites get
-- site_id = '' and are adopted by the site the store is opened for (storage `sites::adopt`):
-- the one update the append-only tables allow is giving a legacy row its site.

CREATE TABLE sites (
    site_id    TEXT   PRIMARY KEY NOT NULL,
    name       TEXT   NOT NULL,
    time_zone  TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE received_events ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
ALTER TABLE received_events DROP CONSTRAINT received_events_pkey;
ALTER TABLE received_events ADD PRIMARY KEY (site_id, source_id, event_id);

ALTER TABLE ticket_steps ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
DROP INDEX ticket_steps_ticket;
CREATE INDEX ticket_steps_ticket ON ticket_steps (site_id, source_id, ticket_id);

ALTER TABLE tickets ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets DROP CONSTRAINT tickets_pkey;
ALTER TABLE tickets ADD PRIMARY KEY (site_id, source_id, ticket_id);
DROP INDEX tickets_last_at;
DROP INDEX tickets_state;
DROP INDEX tickets_served;
CREATE INDEX tickets_last_at ON tickets (site_id, last_at);
CREATE INDEX tickets_state ON tickets (site_id, state);
CREATE INDEX tickets_served ON tickets (site_id, state, served_at);

ALTER TABLE counters ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
ALTER TABLE counters DROP CONSTRAINT counters_pkey;
ALTER TABLE counters ADD PRIMARY KEY (site_id, counter_id);

ALTER TABLE vote_sessions ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
ALTER TABLE vote_sessions DROP CONSTRAINT vote_sessions_source_id_ticket_id_key;
ALTER TABLE vote_sessions ADD CONSTRAINT vote_sessions_site_ticket UNIQUE (site_id, source_id, ticket_id);
DROP INDEX vote_sessions_one_open_per_counter;
DROP INDEX vote_sessions_token;
DROP INDEX vote_sessions_state;
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (site_id, counter_id)
    WHERE state = 'OPEN';
CREATE INDEX vote_sessions_token ON vote_sessions (site_id, token);
CREATE INDEX vote_sessions_state ON vote_sessions (site_id, state);

ALTER TABLE votes ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
ALTER TABLE votes DROP CONSTRAINT votes_source_id_ticket_id_key;
ALTER TABLE votes ADD CONSTRAINT votes_site_ticket UNIQUE (site_id, source_id, ticket_id);
DROP INDEX votes_voted_at;
CREATE INDEX votes_voted_at ON votes (site_id, voted_at);

ALTER TABLE event_log ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
CREATE INDEX event_log_site ON event_log (site_id, seq);

-- Append-only, except that a legacy row (site_id '') may be given its site, nothing else.
CREATE OR REPLACE FUNCTION faccia_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.site_id = '' AND NEW.site_id <> ''
       AND (to_jsonb(OLD) - 'site_id') = (to_jsonb(NEW) - 'site_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% cannot be changed or deleted', TG_TABLE_NAME;
END;
$$;

-- The rollups are per site; the store rebuilds them from the raw rows for each site it opens.
DROP TABLE report_votes;
DROP TABLE report_tickets;
DROP TABLE report_waits;
DROP TABLE report_meta;
CREATE TABLE report_votes (
    site_id      TEXT    NOT NULL,
    month        INTEGER NOT NULL,
    counter_id   TEXT    NOT NULL,
    service_code TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    face         INTEGER NOT NULL,
    reason       INTEGER NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (site_id, month, counter_id, service_code, channel, face, reason)
);
CREATE TABLE report_tickets (
    site_id      TEXT    NOT NULL,
    month        INTEGER NOT NULL,
    counter_id   TEXT    NOT NULL,
    service_code TEXT    NOT NULL,
    served       BIGINT  NOT NULL,
    counted      BIGINT  NOT NULL,
    total_ms     BIGINT  NOT NULL,
    flagged      BIGINT  NOT NULL,
    PRIMARY KEY (site_id, month, counter_id, service_code)
);
CREATE TABLE report_waits (
    site_id      TEXT    NOT NULL,
    month        INTEGER NOT NULL,
    service_code TEXT    NOT NULL,
    wait_s       BIGINT  NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (site_id, month, service_code, wait_s)
);
CREATE TABLE report_meta (
    site_id TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (site_id, key)
);

