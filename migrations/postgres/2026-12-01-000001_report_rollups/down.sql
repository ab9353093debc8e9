DROP TABLE report_meta;
DROP TABLE report_waits;
DROP TABLE report_tickets;
DROP TABLE report_votes;
