DROP TABLE event_log;
DROP TABLE votes;
DROP TABLE vote_sessions;
DROP TABLE counters;
DROP TABLE tickets;
DROP TABLE ticket_steps;
DROP TABLE received_events;
DROP FUNCTION faccia_refuse_change();
