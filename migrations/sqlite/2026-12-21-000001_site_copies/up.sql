-- `faccia db copy`: one row per site whose history is being (or was) copied into this database
-- from another one. Each batch of rows is committed together with the progress it makes, so a
-- copy that is stopped resumes where it left off and copies nothing twice.
CREATE TABLE site_copies (
    site_id      TEXT   PRIMARY KEY NOT NULL,
    -- Where the history comes from (its URL without the password).
    source       TEXT   NOT NULL,
    -- The table being copied ('' before the first, 'done' after the last) and the key of the
    -- last row copied from it (its columns joined with U+001F).
    stage        TEXT   NOT NULL,
    last_key     TEXT   NOT NULL,
    -- Rows copied so far, all tables together.
    copied       BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
