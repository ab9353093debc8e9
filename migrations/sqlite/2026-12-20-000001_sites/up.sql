-- Sites (offices) are first-class: every row belongs to one site, and counter, source and
-- ticket ids are unique within a site only. Rows of a database from before sites get
-- site_id = '' and are adopted by the site the store is opened for (storage `sites::adopt`):
-- the one update the append-only tables allow is giving a legacy row its site.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE sites (
    site_id    TEXT   PRIMARY KEY NOT NULL,
    name       TEXT   NOT NULL,
    time_zone  TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE received_events_v2 (
    site_id     TEXT    NOT NULL,
    source_id   TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    kind        INTEGER NOT NULL,
    ticket_id   TEXT    NOT NULL,
    occurred_at BIGINT  NOT NULL,
    status      INTEGER NOT NULL,
    session_id  TEXT,
    detail      TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    PRIMARY KEY (site_id, source_id, event_id)
);
INSERT INTO received_events_v2
    SELECT '', source_id, event_id, fingerprint, kind, ticket_id, occurred_at, status, session_id,
           detail, received_at FROM received_events;
DROP TABLE received_events;
ALTER TABLE received_events_v2 RENAME TO received_events;

ALTER TABLE ticket_steps ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
DROP INDEX ticket_steps_ticket;
CREATE INDEX ticket_steps_ticket ON ticket_steps (site_id, source_id, ticket_id);

CREATE TABLE tickets_v2 (
    site_id            TEXT    NOT NULL,
    source_id          TEXT    NOT NULL,
    ticket_id          TEXT    NOT NULL,
    display_number     TEXT    NOT NULL,
    service_code       TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    counter_id         TEXT    NOT NULL,
    first_at           BIGINT  NOT NULL,
    issued_at          BIGINT,
    first_called_at    BIGINT,
    last_called_at     BIGINT,
    service_started_at BIGINT,
    served_at          BIGINT,
    ended_at           BIGINT,
    recalls            INTEGER NOT NULL,
    transfers          INTEGER NOT NULL,
    reset              BOOLEAN NOT NULL,
    spans_midnight     BOOLEAN NOT NULL,
    waiting_ms         BIGINT,
    service_ms         BIGINT,
    last_at            BIGINT  NOT NULL,
    operator_ref       TEXT,
    PRIMARY KEY (site_id, source_id, ticket_id)
);
INSERT INTO tickets_v2
    SELECT '', source_id, ticket_id, display_number, service_code, state, counter_id, first_at,
           issued_at, first_called_at, last_called_at, service_started_at, served_at, ended_at,
           recalls, transfers, reset, spans_midnight, waiting_ms, service_ms, last_at,
           operator_ref FROM tickets;
DROP TABLE tickets;
ALTER TABLE tickets_v2 RENAME TO tickets;
CREATE INDEX tickets_last_at ON tickets (site_id, last_at);
CREATE INDEX tickets_state ON tickets (site_id, state);
CREATE INDEX tickets_served ON tickets (site_id, state, served_at);

CREATE TABLE counters_v2 (
    site_id          TEXT    NOT NULL,
    counter_id       TEXT    NOT NULL,
    open             BOOLEAN NOT NULL,
    source_id        TEXT    NOT NULL,
    ticket_id        TEXT    NOT NULL,
    ticket_state     TEXT    NOT NULL,
    changed_at       BIGINT  NOT NULL,
    last_call_at     BIGINT,
    last_call_ticket TEXT    NOT NULL,
    operator_ref     TEXT,
    PRIMARY KEY (site_id, counter_id)
);
INSERT INTO counters_v2
    SELECT '', counter_id, open, source_id, ticket_id, ticket_state, changed_at, last_call_at,
           last_call_ticket, operator_ref FROM counters;
DROP TABLE counters;
ALTER TABLE counters_v2 RENAME TO counters;

DROP TRIGGER votes_no_update;
DROP TRIGGER votes_no_delete;

CREATE TABLE vote_sessions_v2 (
    session_id   TEXT    PRIMARY KEY NOT NULL,
    site_id      TEXT    NOT NULL,
    source_id    TEXT    NOT NULL,
    ticket_id    TEXT    NOT NULL,
    counter_id   TEXT    NOT NULL,
    service_code TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    token        BIGINT  NOT NULL,
    served_at    BIGINT  NOT NULL,
    opened_at    BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    state        TEXT    NOT NULL,
    keypad       TEXT    NOT NULL,
    ended_at     BIGINT,
    UNIQUE (site_id, source_id, ticket_id)
);
INSERT INTO vote_sessions_v2
    SELECT session_id, '', source_id, ticket_id, counter_id, service_code, channel, token,
           served_at, opened_at, expires_at, state, keypad, ended_at FROM vote_sessions;

CREATE TABLE votes_v2 (
    session_id   TEXT    PRIMARY KEY NOT NULL REFERENCES vote_sessions_v2 (session_id),
    site_id      TEXT    NOT NULL,
    source_id    TEXT    NOT NULL,
    ticket_id    TEXT    NOT NULL,
    counter_id   TEXT    NOT NULL,
    service_code TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    face         INTEGER NOT NULL CHECK (face IN (1, 2, 3)),
    reason       INTEGER CHECK (reason IS NULL OR (face = 3 AND reason BETWEEN 1 AND 4)),
    waiting_ms   BIGINT,
    service_ms   BIGINT,
    voted_at     BIGINT  NOT NULL,
    UNIQUE (site_id, source_id, ticket_id)
);
INSERT INTO votes_v2
    SELECT session_id, '', source_id, ticket_id, counter_id, service_code, channel, face, reason,
           waiting_ms, service_ms, voted_at FROM votes;
DROP TABLE votes;
DROP TABLE vote_sessions;
ALTER TABLE vote_sessions_v2 RENAME TO vote_sessions;
ALTER TABLE votes_v2 RENAME TO votes;
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (site_id, counter_id)
    WHERE state = 'OPEN';
CREATE INDEX vote_sessions_token ON vote_sessions (site_id, token);
CREATE INDEX vote_sessions_state ON vote_sessions (site_id, state);
CREATE INDEX votes_voted_at ON votes (site_id, voted_at);
CREATE TRIGGER votes_no_update BEFORE UPDATE ON votes
WHEN NOT (OLD.site_id = '' AND NEW.site_id <> ''
          AND NEW.session_id IS OLD.session_id AND NEW.source_id IS OLD.source_id
          AND NEW.ticket_id IS OLD.ticket_id AND NEW.counter_id IS OLD.counter_id
          AND NEW.service_code IS OLD.service_code AND NEW.channel IS OLD.channel
          AND NEW.face IS OLD.face AND NEW.reason IS OLD.reason
          AND NEW.waiting_ms IS OLD.waiting_ms AND NEW.service_ms IS OLD.service_ms
          AND NEW.voted_at IS OLD.voted_at)
BEGIN SELECT RAISE(ABORT, 'votes cannot be changed'); END;
CREATE TRIGGER votes_no_delete BEFORE DELETE ON votes
BEGIN SELECT RAISE(ABORT, 'votes cannot be deleted'); END;

DROP TRIGGER event_log_no_update;
ALTER TABLE event_log ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
CREATE INDEX event_log_site ON event_log (site_id, seq);
CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
WHEN NOT (OLD.site_id = '' AND NEW.site_id <> ''
          AND NEW.seq IS OLD.seq AND NEW.at IS OLD.at AND NEW.kind IS OLD.kind
          AND NEW.source_id IS OLD.source_id AND NEW.counter_id IS OLD.counter_id
          AND NEW.service_code IS OLD.service_code AND NEW.ticket_id IS OLD.ticket_id
          AND NEW.display_number IS OLD.display_number AND NEW.ticket_event IS OLD.ticket_event
          AND NEW.session_id IS OLD.session_id AND NEW.outcome IS OLD.outcome
          AND NEW.detail IS OLD.detail AND NEW.reason IS OLD.reason
          AND NEW.keypad_state IS OLD.keypad_state AND NEW.figure_a IS OLD.figure_a
          AND NEW.figure_b IS OLD.figure_b AND NEW.fact_text IS OLD.fact_text)
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

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

