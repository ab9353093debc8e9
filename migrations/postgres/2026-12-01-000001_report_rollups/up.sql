-- Monthly rollups for the reports, maintained by the storage writer in the same transaction as
-- the raw rows (votes, tickets). `month` is the local month of the site (`site.time_zone`) as
-- YYYYMM; `report_meta` records the time zone and rollup version they were built with, and the
-- store rebuilds them from the raw tables when either differs (see docs/reports.md).

-- Votes by month (of voted_at), counter, service, channel, face and reason (0: no reason).
CREATE TABLE report_votes (
    month        INTEGER NOT NULL,
    counter_id   TEXT    NOT NULL,
    service_code TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    face         INTEGER NOT NULL,
    reason       INTEGER NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (month, counter_id, service_code, channel, face, reason)
);

-- Served tickets by month (of served_at), counter and service; counted/total_ms over the
-- tickets whose waiting time counts (known, not spanning midnight, not reset), flagged: the
-- ones that span midnight or a day reset.
CREATE TABLE report_tickets (
    month        INTEGER NOT NULL,
    counter_id   TEXT    NOT NULL,
    service_code TEXT    NOT NULL,
    served       BIGINT  NOT NULL,
    counted      BIGINT  NOT NULL,
    total_ms     BIGINT  NOT NULL,
    flagged      BIGINT  NOT NULL,
    PRIMARY KEY (month, counter_id, service_code)
);

-- The distribution of the counted waiting times by month and service, in whole seconds
-- rounded up (wait_s = ceil(waiting_ms / 1000)).
CREATE TABLE report_waits (
    month        INTEGER NOT NULL,
    service_code TEXT    NOT NULL,
    wait_s       BIGINT  NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (month, service_code, wait_s)
);

-- What the rollups were built with: `time_zone`, `version`.
CREATE TABLE report_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
