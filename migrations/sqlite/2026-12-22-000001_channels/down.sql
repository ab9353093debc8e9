DROP TABLE vote_comments;
DROP TABLE vote_answers;
DROP TABLE vote_links;
DROP INDEX vote_sessions_channel;
DROP INDEX vote_sessions_one_open_per_counter;
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (site_id, counter_id)
    WHERE state = 'OPEN';
