-- A person's own language for pages and documents (issue 19): `en` or `es`; none, their
-- organisation's.
ALTER TABLE users ADD COLUMN language TEXT;
