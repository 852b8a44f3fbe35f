-- A person's own time zone for pages (issue 19): an IANA name; none, their organisation's.
ALTER TABLE users ADD COLUMN time_zone TEXT;
