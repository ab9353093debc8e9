-- The web and phone channels. A vote session now belongs to one channel: COUNTER (a counter's
-- keypad, or a totem serving the counter), WEB (a single-use link) or PHONE (an answered call).
-- Only counter sessions hold their counter: a link issued at a counter stays open for a day
-- while the next citizens are served there.
DROP INDEX vote_sessions_one_open_per_counter;
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (site_id, counter_id)
    WHERE state = 'OPEN' AND channel = 'COUNTER';
CREATE INDEX vote_sessions_channel ON vote_sessions (site_id, channel, served_at);

-- The single-use vote links: only the SHA-256 of the token is kept, never the token.
CREATE TABLE vote_links (
    token_hash  TEXT   PRIMARY KEY NOT NULL,
    site_id     TEXT   NOT NULL,
    session_id  TEXT   NOT NULL UNIQUE,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- The raw answer of the AGID "valutazione del servizio" form given with a web vote (the vote
-- itself is in votes: 4-5 stars green, 3 yellow, 1-2 red).
CREATE TABLE vote_answers (
    session_id  TEXT    PRIMARY KEY NOT NULL,
    site_id     TEXT    NOT NULL,
    stars       INTEGER NOT NULL,
    follow_up   INTEGER,
    answered_at BIGINT  NOT NULL
);

-- Free text left with a web vote: kept apart from the votes, never exported to the Ministry,
-- deleted after the retention period (keep_until).
CREATE TABLE vote_comments (
    session_id  TEXT   PRIMARY KEY NOT NULL,
    site_id     TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    written_at  BIGINT NOT NULL,
    keep_until  BIGINT NOT NULL
);
CREATE INDEX vote_comments_keep_until ON vote_comments (keep_until);
