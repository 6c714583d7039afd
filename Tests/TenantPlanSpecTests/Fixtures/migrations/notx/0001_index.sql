-- tenantplan: no-transaction
CREATE INDEX CONCURRENTLY users_id ON users (id);
