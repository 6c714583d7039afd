import Foundation
import TenantPlanCluster
import TenantPlanPostgres
import TenantPlanSpec

/// `plan --rehearse`: the pending changes applied for real, on a throwaway cluster, to copies of
/// one tenant per group of the review (or a sample), with the shared schemas. The source
/// database is only read (`pg_dump`). Says per tenant whether it worked, how long each migration
/// took, and what the schema gained or lost.
public enum Rehearsal {
    public struct Options: Sendable {
        /// Tenants to copy: nil for one per group, else this many spread over the tenants with changes.
        public var sample: Int?
        /// Copy the tenants' data too (`pg_dump` without `--schema-only`).
        public var withData = false

        public init(sample: Int? = nil, withData: Bool = false) {
            self.sample = sample
            self.withData = withData
        }
    }

    public struct Result: Codable, Sendable {
        public var copied: String
        public var tenants: [Tenant]
        public var shared: [Report.ActionResult]
        /// The rehearsal itself could not be set up (copying, the throwaway cluster).
        public var error: String?
    }

    public struct Tenant: Codable, Sendable {
        public var id: String
        /// What the review said would change for this tenant.
        public var changes: [String]
        public var status: Report.Status
        public var error: Report.ErrorInfo?
        public var applied: [Report.AppliedMigration]
        /// `table invoices added`, `column orders.note changed: text (was character varying(200))`.
        public var schemaChanges: [String]
    }

    /// The tenants to copy, each with the changes the review gives it.
    static func pick(_ review: PlanReview, sample: Int?) -> [(id: String, changes: [String])] {
        let groups = review.groups.filter { $0.kind == .changes }
        guard let sample else { return groups.map { ($0.tenants[0], $0.changes) } }
        let all = groups.flatMap { group in group.tenants.map { ($0, group.changes) } }.sorted { $0.0 < $1.0 }
        guard sample > 0, !all.isEmpty else { return [] }
        let step = max(1, all.count / sample)
        return stride(from: 0, to: all.count, by: step).prefix(sample).map { all[$0] }
    }

    /// Runs the rehearsal for `review` (from a dry run of `plan` on `conninfo`).
    public static func run(
        plan: Plan, conninfo: String, review: PlanReview, report: Report, options: Options
    ) async -> Result {
        let picked = pick(review, sample: options.sample)
        let schemaOf = Dictionary(report.tenants.map { ($0.id, $0.schema) }, uniquingKeysWith: { first, _ in first })
        let tenants = picked.compactMap { entry in
            schemaOf[entry.id].map { TenantPlanKit.Tenant(id: entry.id, schema: $0) }
        }
        let graph = ExecutionGraph(plan: plan)
        let shared = graph.sharedActions.map { TenantTables(shared: $0, graph: graph) }
        let trackingRefs = Set(tenants.flatMap { TenantTables(tenant: $0, graph: graph).refs } + shared.flatMap(\.refs))
        let schemas = Set(
            tenants.map(\.schema) + trackingRefs.map(\.schema) + graph.sharedActions.map(\.sharedSchemaName))
        let copied =
            "\(tenants.count) tenant\(tenants.count == 1 ? "" : "s")"
            + (options.withData ? " with data" : ", schema only")
        var result = Result(copied: copied, tenants: [], shared: [], error: nil)
        let cluster: EphemeralCluster
        do {
            cluster = try EphemeralCluster.start()
        } catch {
            result.error = "cannot start a throwaway cluster: \(error)"
            return result
        }
        defer { cluster.stop() }
        do {
            try copy(
                schemas.sorted(), tracking: trackingRefs.sorted { $0.qualified < $1.qualified }, from: conninfo,
                into: cluster, withData: options.withData)
            var rehearsed = plan
            rehearsed.tenants.discover = .list(tenants.map(\.id))
            rehearsed.tenants.include = []
            rehearsed.tenants.exclude = []
            rehearsed.database.pooler = .none
            let tables = Array(Set(trackingRefs.map(\.table)))
            let before = try await catalog(tenants.map(\.schema), excluding: tables, conninfo: cluster.conninfo)
            let applied = try await PlanRunner(
                plan: rehearsed, conninfo: cluster.conninfo, options: RunOptions(command: "apply")
            ).apply()
            let after = try await catalog(tenants.map(\.schema), excluding: tables, conninfo: cluster.conninfo)
            result.shared = applied.sharedActions
            for (tenant, entry) in zip(tenants, picked) {
                guard let outcome = applied.tenants.first(where: { $0.id == tenant.id }) else { continue }
                result.tenants.append(
                    Tenant(
                        id: tenant.id, changes: entry.changes, status: outcome.status,
                        error: outcome.error ?? outcome.actions.first { $0.status == .failed }?.error,
                        applied: outcome.actions.flatMap(\.applied),
                        schemaChanges: changes(before[tenant.schema] ?? [:], after[tenant.schema] ?? [:])))
            }
        } catch {
            result.error = "\(error)"
        }
        return result
    }

    /// `pg_dump` of `schemas` (schema only unless `withData`), then the tracking tables' rows,
    /// loaded into the throwaway cluster with `psql`. No owners or grants: roles of the source
    /// need not exist there.
    static func copy(
        _ schemas: [String], tracking: [TrackingTableRef], from conninfo: String, into cluster: EphemeralCluster,
        withData: Bool
    ) throws {
        let folder = NSTemporaryDirectory() + "tenantplan-rehearse-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let common = ["-d", conninfo, "--no-owner", "--no-privileges"]
        var dump = common + ["-f", folder + "/schemas.sql"] + schemas.flatMap { ["-n", $0] }
        if !withData { dump.append("--schema-only") }
        try cluster.tool("pg_dump", dump)
        try cluster.tool("psql", ["-X", "-q", "-d", cluster.conninfo, "-f", folder + "/schemas.sql"])
        guard !withData, !tracking.isEmpty else { return }
        // Only the tables that exist: pg_dump fails on a -t that matches nothing.
        let present = try PGConnection.connect(conninfo).exec(
            "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                + "ON n.oid = c.relnamespace WHERE (n.nspname, c.relname) IN ("
                + tracking.map { "(\(SQL.quoteLiteral($0.schema)), \(SQL.quoteLiteral($0.table)))" }.joined(
                    separator: ", ")
                + ")")
        let tables = (0..<present.rowCount).compactMap { present.value($0, 0) }
        guard !tables.isEmpty else { return }
        let refs = tracking.filter { tables.contains("\($0.schema).\($0.table)") }
        try cluster.tool(
            "pg_dump",
            common + ["--data-only", "-f", folder + "/tracking.sql"] + refs.flatMap { ["-t", $0.qualified] })
        try cluster.tool("psql", ["-X", "-q", "-d", cluster.conninfo, "-f", folder + "/tracking.sql"])
    }

    private static func catalog(_ schemas: [String], excluding tables: [String], conninfo: String) async throws
        -> [String: [String: String]]
    {
        let session = try await PGSession.open(conninfo)
        return try await session.run { try SchemaCatalog.read(schemas, excluding: tables, on: $0) }
    }

    /// What a schema gained, lost or changed between `before` and `after`.
    static func changes(_ before: [String: String], _ after: [String: String]) -> [String] {
        DriftAnalysis.compare(after, before) { key, new, old in
            guard let new else { return "\(key) dropped" }
            guard let old else { return "\(key) added" }
            return "\(key) changed: \(String(new.prefix(80))) (was \(String(old.prefix(80))))"
        }
    }
}
