DROP INDEX tickets_served;
