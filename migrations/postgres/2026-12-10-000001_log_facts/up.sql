-- Typed facts of event-log entries (faccia.v1.LogFacts): clients word them in their language
-- instead of reading the English detail text. Old entries keep the defaults (no facts).
ALTER TABLE event_log ADD COLUMN reason INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_log ADD COLUMN keypad_state INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_log ADD COLUMN figure_a BIGINT NOT NULL DEFAULT 0;
ALTER TABLE event_log ADD COLUMN figure_b BIGINT NOT NULL DEFAULT 0;
ALTER TABLE event_log ADD COLUMN fact_text TEXT NOT NULL DEFAULT '';
