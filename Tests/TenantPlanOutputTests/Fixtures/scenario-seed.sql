-- Seed of the output fixtures' scenario (scripts/record-output-fixtures.sh), after plans/demo-seed.sql:
-- tenant globex already has a `settings` table, so its first migration fails (42P07).
CREATE SCHEMA tenant_globex;
CREATE TABLE tenant_globex.settings (tenant_id text PRIMARY KEY);
