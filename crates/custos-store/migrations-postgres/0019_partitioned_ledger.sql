-- The disclosure ledger on PostgreSQL, partitioned by subject (declarative hash partitioning
-- on `subject_hi`, 16 partitions). An access answer reads one subject: the planner prunes to
-- the one partition that holds it, whose index is a sixteenth of the whole; a partition is
-- vacuumed, indexed and reindexed on its own, and a bulk load's index is built a partition at
-- a time. SQLite keeps the single table of 0008. Rows already recorded move here.
ALTER TABLE ledger_events RENAME TO ledger_events_unpartitioned;
DROP INDEX IF EXISTS ledger_events_subject;

CREATE TABLE ledger_events (
    subject_hi BIGINT NOT NULL,
    subject_lo BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    disclosed_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
) PARTITION BY HASH (subject_hi);

DO $$
BEGIN
    FOR remainder IN 0..15 LOOP
        EXECUTE format(
            'CREATE TABLE ledger_events_p%s PARTITION OF ledger_events '
            'FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
            lpad(remainder::text, 2, '0'), remainder);
    END LOOP;
END
$$;

INSERT INTO ledger_events (subject_hi, subject_lo, kind, disclosed_at, recorded_at)
SELECT subject_hi, subject_lo, kind, disclosed_at, recorded_at FROM ledger_events_unpartitioned;
DROP TABLE ledger_events_unpartitioned;

CREATE INDEX ledger_events_subject ON ledger_events (subject_hi);
