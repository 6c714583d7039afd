-- Default settings row for the tenant being migrated.
-- tenantplan sets tenantplan.tenant_id (and tenantplan.schema) with SET LOCAL in every
-- tenant transaction; `settings` resolves to the tenant's schema through search_path.
-- Idempotent: an existing row is left as it is.
INSERT INTO settings (tenant_id, display_name, locale, timezone, default_currency, plan_id)
VALUES (current_setting('tenantplan.tenant_id'), current_setting('tenantplan.tenant_id'), 'en-US', 'UTC', 'USD', 'free')
ON CONFLICT (tenant_id) DO NOTHING;
