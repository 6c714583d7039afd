import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// What `apply` would do, for a review: tenants that would get the same changes grouped, shared
/// actions first, the pending migrations, totals. Built from a dry run's report (pure). Nothing
/// in it depends on timing or on the order tenants finished, so the same database state and files
/// give the same value, and the same bytes in every format (`tenantplan plan`).
public struct PlanReview: Codable, Sendable {
    public var planOutputVersion = 1
    public var plan: Plan
    public var database: ConnInfo.Target
    public var summary: Summary
    public var shared: [Shared]
    /// Groups of tenants: changes first (most tenants first), then failures, then skipped ones.
    public var groups: [Group]
    /// Every migration some tenant or shared action would run, in plan order.
    public var migrations: [PendingMigration]
    /// The lint's findings on those migrations, each with how many targets would run it.
    public var lint: [Finding]
    /// The run failed as a whole (connection, discovery): nothing else is known.
    public var error: Report.ErrorInfo?
    /// What `apply` would do that the plan's author may not expect (a new table in another format
    /// than the existing ones, `newTableFormat`); absent when there is none.
    public var warnings: [String]?
    /// `--rehearse`: the changes applied on copies in a throwaway cluster (timings in it: not byte-stable).
    public var rehearsal: Rehearsal.Result?
    /// `--drift`: tenants at one applied state whose schemas differ (`tenantplan drift`).
    public var drift: DriftReport?

    public struct Plan: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        public var toChange = 0
        public var upToDate = 0
        public var failed = 0
        public var skipped = 0
        /// Migration runs: one per tenant (or shared action) and migration.
        public var migrationsPending = 0
        public var migrationsToMark = 0
        public var orphansToDelete = 0
        public var schemasToCreate = 0
        public var tablesToConvert = 0
    }

    public struct Shared: Codable, Sendable, Equatable {
        public var action: String
        public var schema: String
        /// `pending`, `unchanged` or `failed`.
        public var status: String
        public var changes: [String]
        public var error: Report.ErrorInfo?
    }

    public struct Group: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// The tenants would get `changes`.
            case changes
            /// The dry run found an error: a refusal (edited or out-of-order history, adoption), an
            /// unreadable table, a missing schema, an invalid tenant id.
            case failed
            /// Not looked at: the run stopped first (`onError: abort`, `maxFailures`).
            case skipped
        }

        public var kind: Kind
        /// One phrase per change, in the order `apply` makes them: `create schema`, `convert tracking
        /// name -> hash (3 rows)`, `m: +0042_add_invoices`, `m: mark 0003_x`, `m: delete orphan 0009_y`.
        /// For a failure, the action that failed (if one did); for skipped tenants, why.
        public var changes: [String]
        public var error: Report.ErrorInfo?
        /// Every tenant id of the group, sorted.
        public var tenants: [String]
    }

    public struct Finding: Codable, Sendable, Equatable {
        public var finding: LintFinding
        /// Tenants (or 1 for a shared action) that would run the statement.
        public var targets: Int
    }

    public struct PendingMigration: Codable, Sendable, Equatable {
        public var action: String
        public var name: String
        public var hash: String
        /// How many tenants (or 1 for a shared action) would run it.
        public var targets: Int
        /// The file's SQL (`plan --sql`), cut at `sqlLimit` characters.
        public var sql: String?
        public var truncated: Bool?
    }

    /// Longest SQL kept per migration with `--sql`, in characters.
    public static let sqlLimit = 20_000

    public init(report: Report, plan compiled: TenantPlanSpec.Plan, includeSQL: Bool = false) {
        self.plan = Plan(path: report.plan.path, sha256: report.plan.sha256)
        self.database = report.database
        self.error = report.error
        self.warnings = report.warnings
        self.shared = report.sharedActions.map(Self.shared)
        var summary = Summary()
        var grouped: [String: Group] = [:]
        var runs: [String: Int] = [:]
        for result in report.sharedActions where result.status == .pending {
            for name in result.pending ?? [] { runs[result.name + "/" + name, default: 0] += 1 }
        }
        for tenant in report.tenants {
            let group = Self.group(of: tenant)
            summary.add(tenant, group: group)
            for action in tenant.actions where action.status == .pending {
                for name in action.pending ?? [] { runs[action.name + "/" + name, default: 0] += 1 }
            }
            guard let group else { continue }
            let key = [group.kind.rawValue, group.changes.joined(separator: "\u{1E}"), group.error.map(Self.key) ?? ""]
                .joined(separator: "\u{1F}")
            grouped[key, default: Group(kind: group.kind, changes: group.changes, error: group.error, tenants: [])]
                .tenants.append(tenant.id)
        }
        summary.migrationsPending = runs.values.reduce(0, +)
        self.summary = summary
        self.groups = grouped.values.map { group in
            var group = group
            group.tenants.sort()
            return group
        }.sorted(by: Self.order)
        let pending = compiled.actions.flatMap { action in
            action.runnable.filter { runs[action.name + "/" + $0.name] != nil }.map { (action, $0) }
        }
        self.lint = Linter.lint(compiled, migrations: pending).map {
            Finding(finding: $0, targets: runs[$0.action + "/" + $0.migration] ?? 0)
        }
        self.migrations = compiled.actions.flatMap { action in
            action.migrations.compactMap { migration -> PendingMigration? in
                guard let targets = runs[action.name + "/" + migration.name] else { return nil }
                var pending = PendingMigration(
                    action: action.name, name: migration.name, hash: migration.hash, targets: targets)
                if includeSQL {
                    let scalars = migration.sql.unicodeScalars
                    pending.sql = String(String.UnicodeScalarView(scalars.prefix(Self.sqlLimit)))
                    if scalars.count > Self.sqlLimit { pending.truncated = true }
                }
                return pending
            }
        }
    }

    /// Changes before failures before skipped; then most tenants first; then by text.
    private static func order(_ left: Group, _ right: Group) -> Bool {
        let rank: [Group.Kind: Int] = [.changes: 0, .failed: 1, .skipped: 2]
        if left.kind != right.kind { return rank[left.kind]! < rank[right.kind]! }
        if left.tenants.count != right.tenants.count { return left.tenants.count > right.tenants.count }
        let leftText = left.changes.joined(separator: "\n") + (left.error.map(key) ?? "")
        let rightText = right.changes.joined(separator: "\n") + (right.error.map(key) ?? "")
        if leftText != rightText { return leftText < rightText }
        return left.tenants.lexicographicallyPrecedes(right.tenants)
    }

    private static func key(_ error: Report.ErrorInfo) -> String {
        [error.migration ?? "", error.sqlstate ?? "", error.message, error.detail ?? "", error.hint ?? ""]
            .joined(separator: "\u{1E}")
    }

    /// The tenant's group, nil when it is up to date.
    static func group(of tenant: Report.TenantResult) -> Group? {
        let changes = Self.changes(of: tenant)
        switch tenant.status {
        case .failed:
            let failedAction = tenant.actions.first { $0.status == .failed }
            let error = (tenant.error ?? failedAction?.error).map { general($0, for: tenant) }
            return Group(kind: .failed, changes: failedAction.map { [$0.name] } ?? [], error: error, tenants: [])
        case .skipped:
            let reason = tenant.actions.compactMap(\.skippedBecause).first ?? "the run stopped before this tenant"
            return Group(kind: .skipped, changes: [reason], error: nil, tenants: [])
        case .succeeded:
            return changes.isEmpty ? nil : Group(kind: .changes, changes: changes, error: nil, tenants: [])
        }
    }

    /// `error` with the tenant's schema written `{schema}` and its id after `--tenant` written
    /// `{id}`, so that tenants failing the same way fall in one group.
    static func general(_ error: Report.ErrorInfo, for tenant: Report.TenantResult) -> Report.ErrorInfo {
        func general(_ text: String) -> String {
            var text = text.replacingOccurrences(of: "--tenant \(tenant.id)", with: "--tenant {id}")
            if tenant.schema.count >= 3 { text = text.replacingOccurrences(of: tenant.schema, with: "{schema}") }
            return text
        }
        var error = error
        error.message = general(error.message)
        error.detail = error.detail.map(general)
        error.hint = error.hint.map(general)
        return error
    }

    /// A tenant's changes, one phrase each, in the order `apply` makes them.
    static func changes(of tenant: Report.TenantResult) -> [String] {
        var changes: [String] = []
        if tenant.createdSchema == true { changes.append("create schema") }
        for conversion in tenant.conversions ?? [] {
            changes.append(
                "convert tracking \(conversion.table) \(conversion.from.rawValue) -> \(conversion.to.rawValue) "
                    + "(\(conversion.rows.count) \(conversion.rows.count == 1 ? "row" : "rows"))")
        }
        for action in tenant.actions where action.status == .pending {
            changes += actionChanges(action)
        }
        return changes
    }

    static func actionChanges(_ action: Report.ActionResult) -> [String] {
        var parts: [String] = []
        if let pending = action.pending, !pending.isEmpty {
            parts.append(pending.map { "+" + $0 }.joined(separator: ", "))
        }
        if let marked = action.marked, !marked.isEmpty {
            parts.append("mark " + marked.joined(separator: ", "))
        }
        if let deleted = action.deletedOrphans, !deleted.isEmpty {
            parts.append("delete orphan " + deleted.sorted().joined(separator: ", "))
        }
        return parts.map { "\(action.name): \($0)" }
    }

    private static func shared(_ result: Report.ActionResult) -> Shared {
        var changes = actionChanges(result)
        for conversion in result.conversions ?? [] {
            changes.insert(
                "convert tracking \(conversion.table) \(conversion.from.rawValue) -> \(conversion.to.rawValue)", at: 0)
        }
        let status: String =
            switch result.status {
            case .failed: "failed"
            case .pending: "pending"
            default: "unchanged"
            }
        return Shared(
            action: result.name, schema: result.schema ?? "", status: status, changes: changes, error: result.error)
    }

    /// Something would change (the `--detailed-exitcode` 3).
    public var hasChanges: Bool {
        shared.contains { $0.status == "pending" } || groups.contains { $0.kind == .changes }
    }

    /// The review as JSON (`plan --format json`): keys sorted, so the bytes are stable too.
    public func json() throws -> Data {
        try StableJSON.data(self)
    }
}

extension PlanReview.Summary {
    mutating func add(_ tenant: Report.TenantResult, group: PlanReview.Group?) {
        tenants += 1
        switch tenant.status {
        case .failed: failed += 1
        case .skipped: skipped += 1
        case .succeeded: if group == nil { upToDate += 1 } else { toChange += 1 }
        }
        if tenant.createdSchema == true { schemasToCreate += 1 }
        tablesToConvert += tenant.conversions?.count ?? 0
        for action in tenant.actions where action.status == .pending {
            migrationsToMark += action.marked?.count ?? 0
            orphansToDelete += action.deletedOrphans?.count ?? 0
        }
    }
}
