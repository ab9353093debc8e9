DROP TABLE site_copies;
