import TenantPlanPostgres

/// What a tenant schema holds, read from pg_catalog in one query for many schemas: tables,
/// columns with types, defaults and nullability, indexes, constraints, views, sequences and
/// functions, each as `kind name` → definition, with the schema's own name taken out of
/// definitions (an index of `tenant_acme.orders` reads the same as one of `tenant_globex.orders`).
enum SchemaCatalog {
    /// Rows `(schema, kind, name, definition)` for the schemas of `$1` (a text array); the tables
    /// named in `$2` (tracking tables) are left out.
    static let query = """
        WITH s AS (SELECT n.oid, n.nspname, quote_ident(n.nspname) || '.' AS q, n.nspname || '.' AS p
                   FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY($1::text[])),
        rel AS (SELECT c.oid, c.relname, c.relkind, s.nspname, s.q, s.p
                FROM pg_catalog.pg_class c JOIN s ON c.relnamespace = s.oid
                WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relname = ANY($2::text[]))
        SELECT nspname, CASE relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                                     WHEN 'f' THEN 'foreign table' ELSE 'table' END,
               relname,
               CASE WHEN relkind IN ('v', 'm') THEN replace(replace(pg_catalog.pg_get_viewdef(oid), q, ''), p, '')
                    ELSE '' END
        FROM rel
        UNION ALL
        SELECT r.nspname, 'column', r.relname || '.' || a.attname,
               pg_catalog.format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
               || coalesce(' default '
                   || replace(replace(pg_catalog.pg_get_expr(d.adbin, d.adrelid), r.q, ''), r.p, ''), '')
        FROM rel r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
        WHERE r.relkind IN ('r', 'p', 'f')
        UNION ALL
        SELECT r.nspname, 'index', i.relname, replace(replace(pg_catalog.pg_get_indexdef(i.oid), r.q, ''), r.p, '')
        FROM rel r JOIN pg_catalog.pg_index x ON x.indrelid = r.oid JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
        UNION ALL
        SELECT r.nspname, 'constraint', r.relname || '.' || con.conname,
               replace(replace(pg_catalog.pg_get_constraintdef(con.oid), r.q, ''), r.p, '')
        FROM rel r JOIN pg_catalog.pg_constraint con ON con.conrelid = r.oid
        UNION ALL
        SELECT s.nspname, 'function', p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
               pg_catalog.md5(coalesce(p.prosrc, '') || ' ' || pg_catalog.pg_get_function_result(p.oid))
        FROM pg_catalog.pg_proc p JOIN s ON p.pronamespace = s.oid
        """

    /// `schema` → (`kind name` → definition), read in one round trip.
    static func read(_ schemas: [String], excluding tables: [String], on connection: PGConnection) throws
        -> [String: [String: String]]
    {
        let result = try connection.exec(query, [PGArray.literal(schemas), PGArray.literal(tables)])
        var catalog: [String: [String: String]] = [:]
        for schema in schemas { catalog[schema] = [:] }
        for row in 0..<result.rowCount {
            guard let schema = result.value(row, 0), let kind = result.value(row, 1), let name = result.value(row, 2)
            else { continue }
            catalog[schema, default: [:]]["\(kind) \(name)"] = result.value(row, 3) ?? ""
        }
        return catalog
    }
}
