import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// The JSON report of a run (`--report FILE`, `--json`). Schema: docs/schemas/report-v1.json.
public struct Report: Codable, Sendable {
    public var reportVersion = 1
    public var tool: Tool
    public var command: String
    public var plan: PlanInfo
    public var database: ConnInfo.Target
    public var options: Options
    public var startedAt: String
    public var finishedAt: String
    public var durationMs: Int
    /// Set when the run stopped starting tenants early: abortOnError, maxFailures or interrupted.
    public var stopReason: SlidingWindow.StopReason?
    /// The stop in words, where the reason alone does not say enough (identicalFailures: which migration, how).
    public var stopDetail: String?
    /// A failure of the whole run (discovery, connection) rather than of one tenant.
    public var error: ErrorInfo?
    /// Things the run did that the user may not expect (new tables in another format than the existing ones).
    public var warnings: [String]?
    public var summary: Summary
    /// The run's connection pool: connections opened and recycled over the run, and at its end.
    public var connections: Connections?
    public var sharedActions: [ActionResult]
    public var tenants: [TenantResult]

    public struct Tool: Codable, Sendable {
        public var name = "tenantplan"
        public var version = TenantPlanVersion.current
    }

    public struct Connections: Codable, Sendable {
        public var opened: Int
        public var recycled: Int
        public var active: Int
        public var idle: Int
        public var waiting: Int
    }

    public struct PlanInfo: Codable, Sendable {
        public var path: String
        public var sha256: String
    }

    public struct Options: Codable, Sendable {
        public var dryRun: Bool
        public var concurrency: Int
        public var onError: OnError
        public var maxFailures: Int
        public var tenants: [String]
        public var exclude: [String]
        /// `--mark-applied` (present only when set).
        public var markApplied: Bool?
        /// `--up-to NAME`.
        public var upTo: String?
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        public var succeeded = 0
        public var failed = 0
        public var skipped = 0
        public var unchanged = 0
        public var migrationsApplied = 0
        /// Migrations that would run (dry runs and `plan` only).
        public var migrationsPending: Int?
        /// Migrations recorded without running.
        public var migrationsMarked: Int?
        /// Tenants whose tracking tables were converted to another format.
        public var tenantsConverted: Int?
        /// Attempts beyond the first, over all tenants (`database.retry`); absent when none.
        public var retries: Int?
    }

    public enum Status: String, Codable, Sendable {
        case succeeded, failed, skipped
    }

    public struct TenantResult: Codable, Sendable {
        public var id: String
        public var schema: String
        public var status: Status
        /// The tenant had nothing to do (succeeded tenants only).
        public var unchanged: Bool
        public var durationMs: Int
        /// Tracking format found (per tenant; the first tracked action's table).
        public var format: TrackingFormat?
        /// The format the tenant's tables were converted to (autoMigrateFormat, convert-tracking).
        public var convertedTo: TrackingFormat?
        /// Each converted table, row by row (original times included).
        public var conversions: [TrackingConverter.Conversion]?
        /// The schema did not exist and was created by this run.
        public var createdSchema: Bool?
        public var actions: [ActionResult]
        /// A failure outside any action (invalid schema name, missing schema, lost connection).
        public var error: ErrorInfo?
        /// Attempts the tenant took when transient errors were retried (`database.retry`); absent for one.
        public var attempts: Int?
    }

    public struct ActionResult: Codable, Sendable {
        public enum Status: String, Codable, Sendable {
            /// Ran and applied at least one migration.
            case applied
            /// Nothing pending.
            case unchanged
            /// Would apply migrations (dry run).
            case pending
            case failed
            /// Not run: an earlier action of the tenant failed, a dependency failed, or the run stopped.
            case skipped
        }

        public var name: String
        /// For shared actions, the schema it ran in.
        public var schema: String?
        public var status: Status
        public var durationMs: Int
        public var format: TrackingFormat?
        public var applied: [AppliedMigration]
        /// Migrations that would run (dry run) or were left pending by a failure.
        public var pending: [String]?
        public var error: ErrorInfo?
        public var skippedBecause: String?
        /// Migrations recorded as applied without running (--mark-applied, markApplied, sync markMissing).
        public var marked: [String]?
        /// Orphan rows deleted (sync cleanOrphans): their recorded names or hashes.
        public var deletedOrphans: [String]?
        /// Shared actions: their tracking table converted first (autoMigrateFormat).
        public var conversions: [TrackingConverter.Conversion]?
        /// A shared action's attempts, when retried (`database.retry`).
        public var attempts: Int?
    }

    public struct AppliedMigration: Codable, Sendable, Equatable {
        public var name: String
        public var hash: String
        public var durationMs: Int
        /// Attempts it took, when more than one (`database.retry`): earlier ones failed transiently
        /// and rolled back.
        public var attempts: Int? = nil
    }

    /// Exit code per the contract: 0 success, 1 a tenant/action failed or the run could not proceed, 130 interrupted.
    public var exitCode: Int32 {
        if stopReason == .interrupted { return 130 }
        if error != nil || summary.failed > 0 || sharedActions.contains(where: { $0.status == .failed }) { return 1 }
        return 0
    }

    /// A dry run found something to change: migrations to run or mark, orphans to delete,
    /// schemas to create, tables to convert (`plan --detailed-exitcode` exits 3).
    public var hasPendingChanges: Bool {
        sharedActions.contains { $0.status == .pending }
            || tenants.contains { $0.status == .succeeded && !$0.unchanged }
    }

    public func json(pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

extension Report {
    /// A report of a run that starts now, with the options in force.
    init(plan: Plan, command: String, options: RunOptions, startedAt: Date) {
        let used = Options(
            dryRun: options.dryRun, concurrency: plan.concurrency, onError: plan.onError, maxFailures: plan.maxFailures,
            tenants: options.filter.only, exclude: options.filter.exclude,
            markApplied: options.markApplied ? true : nil, upTo: options.upTo)
        self.init(
            tool: Tool(), command: command, plan: PlanInfo(path: plan.path, sha256: plan.sha256),
            database: ConnInfo.Target(), options: used, startedAt: Timestamp.iso8601(startedAt), finishedAt: "",
            durationMs: 0, summary: Summary(), sharedActions: [], tenants: [])
    }

    /// Closes the report: stop reason, summary, end time.
    mutating func finish(started: Date, interrupted: Bool) {
        if interrupted { stopReason = .interrupted }
        summarize()
        let finished = Date()
        finishedAt = Timestamp.iso8601(finished)
        durationMs = Int(finished.timeIntervalSince(started) * 1000)
    }

    /// Fills `summary` from the tenants and actions.
    mutating func summarize() {
        var summary = Summary()
        summary.tenants = tenants.count
        summary.succeeded = tenants.filter { $0.status == .succeeded }.count
        summary.failed = tenants.filter { $0.status == .failed }.count
        summary.skipped = tenants.filter { $0.status == .skipped }.count
        summary.unchanged = tenants.filter { $0.status == .succeeded && $0.unchanged }.count
        let allActions = tenants.flatMap(\.actions) + sharedActions
        summary.migrationsApplied = allActions.reduce(0) { $0 + $1.applied.count }
        let marked = allActions.reduce(0) { $0 + ($1.marked?.count ?? 0) }
        if marked > 0 || options.markApplied == true { summary.migrationsMarked = marked }
        let converted = tenants.filter { $0.convertedTo != nil && $0.status == .succeeded }.count
        if converted > 0 { summary.tenantsConverted = converted }
        let retries =
            tenants.reduce(0) { $0 + max(0, ($1.attempts ?? 1) - 1) }
            + sharedActions.reduce(0) { $0 + max(0, ($1.attempts ?? 1) - 1) }
        if retries > 0 { summary.retries = retries }
        if options.dryRun {
            summary.migrationsPending = allActions.reduce(0) {
                $0 + ($1.status == .pending ? ($1.pending?.count ?? 0) : 0)
            }
        }
        self.summary = summary
    }
}

public enum TenantPlanVersion {
    public static let current = "0.1.0"
}

enum Timestamp {
    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
