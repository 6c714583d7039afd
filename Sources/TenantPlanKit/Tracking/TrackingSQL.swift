import TenantPlanPostgres
import TenantPlanSpec

/// SQL for each tracking format: creating the table, recording a migration, reading rows.
public enum TrackingSQL {
    public static func createTable(_ ref: TrackingTableRef, format: TrackingFormat) -> String {
        let columns: String
        switch format {
        case .name:
            columns =
                "id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, "
                + "applied_at timestamptz DEFAULT current_timestamp"
        case .hash:
            columns = "id serial PRIMARY KEY, hash text NOT NULL, created_at timestamptz DEFAULT current_timestamp"
        case .drizzleKit:
            columns = "id serial PRIMARY KEY, hash text NOT NULL, created_at bigint"
        }
        return "CREATE TABLE IF NOT EXISTS \(ref.qualified) (\(columns))"
    }

    /// An INSERT recording `migration`; values are quoted literals (for multi-statement texts).
    public static func record(_ migration: Migration, in ref: TrackingTableRef, format: TrackingFormat) -> String {
        switch format {
        case .name:
            return "INSERT INTO \(ref.qualified) (name) VALUES (\(SQL.quoteLiteral(migration.name)))"
        case .hash:
            return "INSERT INTO \(ref.qualified) (hash) VALUES (\(SQL.quoteLiteral(migration.hash)))"
        case .drizzleKit:
            let createdAt = migration.when.map(String.init) ?? "(extract(epoch from clock_timestamp()) * 1000)::bigint"
            return
                "INSERT INTO \(ref.qualified) (hash, created_at) "
                + "VALUES (\(SQL.quoteLiteral(migration.hash)), \(createdAt))"
        }
    }

    /// A SELECT of `(tag, id, key, applied)` rows, all as text: `key` is the name or hash,
    /// `applied` the time. Columns a legacy table lacks read as NULL instead of failing the batch.
    public static func selectRows(_ ref: TrackingTableRef, format: TrackingFormat, columns: Set<String>, tag: Int)
        -> String
    {
        let key = format == .name ? "name" : "hash"
        let time = format == .name ? "applied_at" : "created_at"
        let id = columns.contains("id") ? "\"id\"::text" : "NULL::text"
        let applied = columns.contains(time) ? "\"\(time)\"::text" : "NULL::text"
        return "SELECT \(tag) AS tag, \(id) AS id, \"\(key)\"::text AS key, \(applied) AS applied FROM \(ref.qualified)"
    }

    /// Deletes rows by their recorded key (name or hash), which every layout has (a legacy table may lack `id`).
    public static func deleteRows(withKeys keys: [String], in ref: TrackingTableRef, format: TrackingFormat) -> String {
        let column = format == .name ? "name" : "hash"
        return
            "DELETE FROM \(ref.qualified) WHERE \(SQL.quoteIdentifier(column)) IN "
            + "(\(Set(keys).sorted().map(SQL.quoteLiteral).joined(separator: ", ")));"
    }

    /// Reads the columns of tracking tables named `table` in any of `schemas`.
    public static let columnsQuery = """
        SELECT n.nspname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
        WHERE c.relname = $1 AND n.nspname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
          AND a.attnum > 0 AND NOT a.attisdropped
        """

    /// Which of `schemas` exist.
    public static let schemasQuery = "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])"

    /// Detects a format from a table's columns (name -> type), as the contract says.
    public static func detect(columns: [String: String]) -> TrackingFormat? {
        if columns["name"] != nil { return .name }
        guard columns["hash"] != nil else { return nil }
        return columns["created_at"] == "bigint" ? .drizzleKit : .hash
    }
}

/// A PostgreSQL text[] literal for passing a list of strings as one parameter.
enum PGArray {
    static func literal(_ values: [String]) -> String {
        "{"
            + values.map { value in
                "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    + "\""
            }.joined(separator: ",") + "}"
    }
}
