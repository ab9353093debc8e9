-- Reports and the monitor select served tickets by time.
CREATE INDEX tickets_served ON tickets (state, served_at);
