BEGIN;
CREATE INDEX CONCURRENTLY i ON t(c);
COMMIT;
-- migrated:lint-ignore ban-drop-column why
ALTER TABLE t DROP COLUMN c, ADD COLUMN d int NOT NULL DEFAULT gen_random_uuid(), ALTER COLUMN e TYPE bigint;
