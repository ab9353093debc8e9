ALTER TABLE event_log DROP COLUMN fact_text;
ALTER TABLE event_log DROP COLUMN figure_b;
ALTER TABLE event_log DROP COLUMN figure_a;
ALTER TABLE event_log DROP COLUMN keypad_state;
ALTER TABLE event_log DROP COLUMN reason;
