-- Totems: a keypad at the entrance serving several counters. A counter served by a totem keeps
-- the session of each citizen it served open (keypad TOTEM, then TOTEM_ARMED once the totem was
-- armed for it) for the totem's window while the next citizens are served there: those sessions
-- do not hold their counter.
DROP INDEX vote_sessions_one_open_per_counter;
CREATE UNIQUE INDEX vote_sessions_one_open_per_counter ON vote_sessions (site_id, counter_id)
    WHERE state = 'OPEN' AND channel = 'COUNTER' AND keypad NOT IN ('TOTEM', 'TOTEM_ARMED');
