import TenantPlanPostgres
import TenantPlanSpec

/// A tenant found by discovery.
public struct Tenant: Sendable, Hashable {
    public var id: String
    public var schema: String
    /// Why the id cannot make a schema name (that tenant fails; the others go on).
    public var invalidReason: String?
}

/// Narrowing requested on the command line.
public struct TenantFilter: Sendable {
    /// `--tenant ID` (repeatable): keep only these; each must have been discovered.
    public var only: [String] = []
    /// `--exclude GLOB` (repeatable).
    public var exclude: [String] = []

    public init(only: [String] = [], exclude: [String] = []) {
        self.only = only
        self.exclude = exclude
    }
}

/// How many tenants each narrowing kept, for "discovered 19 tenants, 1 after --tenant".
public struct DiscoveryCounts: Sendable, Equatable {
    /// Distinct ids discovery returned.
    public var discovered: Int
    /// After the plan's `include` / `exclude`.
    public var afterPlanFilters: Int
    /// After `--tenant` / `--exclude`: the tenants of the run.
    public var selected: Int

    public init(discovered: Int, afterPlanFilters: Int, selected: Int) {
        self.discovered = discovered
        self.afterPlanFilters = afterPlanFilters
        self.selected = selected
    }
}

/// Finds tenant ids (sql / list / schemaLike), maps them to schemas and applies filters.
public enum TenantDiscovery {
    public static func discover(_ settings: TenantSettings, on connection: PGConnection) throws -> [String] {
        switch settings.discover {
        case .list(let ids):
            return ids
        case .sql(let query):
            let result = try connection.exec(query)
            guard result.columnCount >= 1 else {
                throw PostgresError(
                    kind: .client,
                    message: "tenants.discover.sql returned no columns; it must select the tenant id first")
            }
            return (0..<result.rowCount).compactMap { result.value($0, 0) }
        case .schemaLike(let pattern):
            let result = try connection.exec(
                "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname LIKE $1 ORDER BY nspname", [pattern])
            return (0..<result.rowCount).compactMap { row in
                result.value(row, 0).flatMap { settings.schema.id(fromSchema: $0) }
            }
        }
    }

    /// Applies the plan's include/exclude and the command line's filter; de-duplicates ids.
    /// Throws `TenantPlanError.unknownTenants` for a `--tenant` id not discovered.
    /// `templates`: other names made from a tenant (tracking schemas, search path entries), each
    /// checked like its schema.
    public static func tenants(
        ids: [String], settings: TenantSettings, filter: TenantFilter, templates: [String] = []
    ) throws(TenantPlanError) -> (tenants: [Tenant], counts: DiscoveryCounts) {
        var seen = Set<String>()
        var kept: [String] = []
        var discovered = 0
        for id in ids where seen.insert(id).inserted {
            discovered += 1
            if !settings.include.isEmpty, !settings.include.contains(where: { $0.matches(id) }) { continue }
            if settings.exclude.contains(where: { $0.matches(id) }) { continue }
            kept.append(id)
        }
        let afterPlanFilters = kept.count
        if !filter.only.isEmpty {
            let available = Set(kept)
            let unknown = filter.only.filter { !available.contains($0) }
            if !unknown.isEmpty { throw .unknownTenants(unknown) }
            let wanted = Set(filter.only)
            kept = kept.filter { wanted.contains($0) }
        }
        let excludes = filter.exclude.map(Glob.init)
        kept = kept.filter { id in !excludes.contains { $0.matches(id) } }
        let tenants = kept.map { id in
            let schema = settings.schema.schema(for: id)
            let names = templates.map { Template.expand($0, schema: schema, id: id) }
            return Tenant(id: id, schema: schema, invalidReason: invalidReason(id: id, schema: schema, names: names))
        }
        return (
            tenants,
            DiscoveryCounts(discovered: discovered, afterPlanFilters: afterPlanFilters, selected: tenants.count)
        )
    }

    /// Why a tenant cannot run: its id, or a name made from it (`names`: tracking schemas, search
    /// path entries) that PostgreSQL would refuse or truncate.
    static func invalidReason(id: String, schema: String, names: [String] = []) -> String? {
        if id.isEmpty { return "tenant id is empty" }
        if id.contains("\0") || schema.contains("\0") { return "tenant id contains a NUL character" }
        if schema.utf8.count > 63 {
            return "schema name '\(schema)' is \(schema.utf8.count) bytes; PostgreSQL allows 63"
        }
        if let long = names.first(where: { $0.utf8.count > 63 }) {
            return "name '\(long)' (a tracking schema or search path entry) is \(long.utf8.count) bytes; "
                + "PostgreSQL allows 63 and would truncate it"
        }
        return nil
    }
}
