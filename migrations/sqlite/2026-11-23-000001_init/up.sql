-- faccia schema v1 (SQLite). Times are milliseconds since the Unix epoch (UTC).

-- Every (source, event) ever received, with the answer given: idempotency and audit.
CREATE TABLE received_events (
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
    PRIMARY KEY (source_id, event_id)
);

-- The accepted history of each ticket (steps), in arrival order (id).
CREATE TABLE ticket_steps (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id           TEXT    NOT NULL,
    ticket_id           TEXT    NOT NULL,
    event_id            TEXT    NOT NULL,
    occurred_at         BIGINT  NOT NULL,
    kind                INTEGER NOT NULL,
    counter_id          TEXT    NOT NULL,
    service_code        TEXT    NOT NULL,
    transfer_to_service TEXT    NOT NULL,
    display_number      TEXT    NOT NULL,
    operator_ref        TEXT
);
CREATE INDEX ticket_steps_ticket ON ticket_steps (source_id, ticket_id);

-- What each ticket's history adds up to (derived from ticket_steps, kept for queries).
CREATE TABLE tickets (
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
    PRIMARY KEY (source_id, ticket_id)
);
CREATE INDEX tickets_last_at ON tickets (last_at);
CREATE INDEX tickets_state ON tickets (state);

-- What each counter is doing, as far as the queue system told us.
CREATE TABLE counters (
    counter_id       TEXT    PRIMARY KEY NOT NULL,
    open             BOOLEAN NOT NULL,
    source_id        TEXT    NOT NULL,
    ticket_id        TEXT    NOT NULL,
    ticket_state     TEXT    NOT NULL,
    changed_at       BIGINT  NOT NULL,
    last_call_at     BIGINT,
    last_call_ticket TEXT    NOT NULL,
    operator_ref     TEXT
);

-- One vote session per served ticket, ever.
CREATE TABLE vote_sessions (
    session_id   TEXT    PRIMARY KEY NOT NULL,
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
    UNIQUE (source_id, ticket_id)
);
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (counter_id) WHERE state = 'OPEN';
CREATE INDEX vote_sessions_token ON vote_sessions (token);
CREATE INDEX vote_sessions_state ON vote_sessions (state);

-- Votes: written once, through an open session, never changed or deleted.
CREATE TABLE votes (
    session_id   TEXT    PRIMARY KEY NOT NULL REFERENCES vote_sessions (session_id),
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
    UNIQUE (source_id, ticket_id)
);
CREATE INDEX votes_voted_at ON votes (voted_at);
CREATE TRIGGER votes_no_update BEFORE UPDATE ON votes
BEGIN SELECT RAISE(ABORT, 'votes cannot be changed'); END;
CREATE TRIGGER votes_no_delete BEFORE DELETE ON votes
BEGIN SELECT RAISE(ABORT, 'votes cannot be deleted'); END;

-- Append-only event log with a strictly increasing sequence (WatchEvents reads it).
CREATE TABLE event_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             BIGINT  NOT NULL,
    kind           INTEGER NOT NULL,
    source_id      TEXT    NOT NULL,
    counter_id     TEXT    NOT NULL,
    service_code   TEXT    NOT NULL,
    ticket_id      TEXT    NOT NULL,
    display_number TEXT    NOT NULL,
    ticket_event   INTEGER NOT NULL,
    session_id     TEXT    NOT NULL,
    outcome        INTEGER NOT NULL,
    detail         TEXT    NOT NULL
);
CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
