-- The time zone an e-mail's times are written in (issue 19): the recipient organisation's (or
-- person's), an IANA name; none, UTC.
ALTER TABLE deliveries ADD COLUMN time_zone TEXT;
