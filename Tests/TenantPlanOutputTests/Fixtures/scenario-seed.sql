-- Seed of the output fixtures' scenario (scripts/record-output-fixtures.sh), after plans/demo-seed.sql:
-- tenant globex already has a `settings` table (and an empty tracking table), so its first migration
-- fails (42P07); tenant initech holds a table but no tracking table, so it is refused before anything runs.
CREATE SCHEMA tenant_globex;
CREATE TABLE tenant_globex.settings (tenant_id text PRIMARY KEY);
CREATE TABLE tenant_globex.__drizzle_migrations (
    id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, applied_at timestamptz DEFAULT current_timestamp
);
CREATE SCHEMA tenant_initech;
CREATE TABLE tenant_initech.users (id int);
