DROP INDEX vote_sessions_one_open_per_counter;
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (site_id, counter_id)
    WHERE state = 'OPEN' AND channel = 'COUNTER';
