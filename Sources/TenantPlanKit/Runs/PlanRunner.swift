import Foundation
import Logging
import TenantPlanPostgres
import TenantPlanSpec

/// Options of one run, from the command line. Values that replace the plan's (`--concurrency`,
/// `--on-error`, `--max-failures`) go to the compiler instead (`CompileOptions.overrides`), so
/// they are checked like the plan's own.
public struct RunOptions: Sendable {
    public var command = "apply"
    public var dryRun = false
    public var filter = TenantFilter()
    /// `--mark-applied`: record pending migrations as applied without running them.
    public var markApplied = false
    /// `--up-to NAME` (with `markApplied`): stop after NAME in the action that holds it.
    public var upTo: String?
    /// From how many tenants `apply` reads a sample and assumes the rest at its common state
    /// (`Speculation`); below, a full read costs less than a round for the sample (under half a
    /// second at 2,000 tenants). Lowered by tests.
    var assumeFrom = Speculation.defaultMinimum

    public init(
        command: String = "apply", dryRun: Bool = false, filter: TenantFilter = TenantFilter(),
        markApplied: Bool = false, upTo: String? = nil
    ) {
        self.command = command
        self.dryRun = dryRun
        self.filter = filter
        self.markApplied = markApplied
        self.upTo = upTo
    }
}

/// The library's entry point: runs a compiled plan against a database. Each command is a small
/// run built on one `RunSession` (pool, discovery, batched read): `apply` (and its dry run),
/// `status`, `sync`, `convertTracking`.
public final class PlanRunner: Sendable {
    public let plan: Plan
    public let graph: ExecutionGraph
    let conninfo: String
    let options: RunOptions
    let control: RunControl
    let events: @Sendable (RunEvent) -> Void
    let logger: Logger

    /// `conninfo` is `database.url` with `${VAR}` already expanded. `logger` takes what the plan's
    /// `debug` settings log (`RunLogging`).
    public init(
        plan: Plan, conninfo: String, options: RunOptions, control: RunControl = RunControl(),
        logger: Logger = Logger(label: "tenantplan"), events: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) {
        self.plan = plan
        self.graph = ExecutionGraph(plan: plan)
        self.conninfo = conninfo
        self.options = options
        self.control = control
        self.logger = logger
        self.events = events
    }

    /// Ctrl-C (or SIGTERM) stopped the run.
    public var isInterrupted: Bool { control.isInterrupted }

    /// `readOnly`: every transaction of the run's connections is read only (`plan`, `status`, dry runs).
    private func session(readOnly: Bool = false) -> RunSession {
        RunSession(
            plan: plan, graph: graph, conninfo: conninfo, filter: options.filter, control: control, events: events,
            logger: logger, readOnly: readOnly)
    }

    /// Applies the plan (or, with `dryRun`, reports what would run without writing). Throws
    /// `TenantPlanError` for an invalid command line (an unknown `--tenant` or `--up-to`); every
    /// other failure is recorded in the report.
    public func apply() async throws(TenantPlanError) -> Report {
        // An unknown --up-to is a command-line error, found before connecting.
        _ = try ApplyRun.markLimits(options, graph: graph)
        return try await ApplyRun(session: session(readOnly: options.dryRun), options: options).run()
    }

    /// Every tenant's applied, pending and orphaned migrations, from the batched read.
    public func status() async throws -> StatusReport {
        try await StatusRun(session: session(readOnly: true)).run()
    }

    /// Health: the shared database, then each tenant's schema, tracking table, pending migrations
    /// and response time (each probe bounded by `timeout`; 0: no bound). Read only.
    public func health(timeout: PlanDuration = .zero) async throws -> HealthReport {
        try await HealthRun(session: session(readOnly: true), timeout: timeout).run()
    }

    /// Opens the pool's connections and touches every tenant's schema and tracking table once.
    public func warmup(timeout: PlanDuration = .zero) async throws -> WarmupReport {
        try await WarmupRun(session: session(readOnly: true), timeout: timeout).run()
    }

    /// Schema drift: tenants at the same applied state grouped by a fingerprint of their schema (read only).
    public func drift() async throws -> DriftReport {
        try await DriftRun(session: session(readOnly: true)).run()
    }

    /// Drift between tracking rows and files; with `.markMissing`, `.cleanOrphans` or
    /// `.acceptEdits` (and not a dry run) fixes it. `--mark-missing` records what `scope` allows
    /// (the gaps by default). `confirm` is asked with the number of tenants that would change;
    /// false refuses (exit 2).
    public func sync(
        _ mode: SyncReport.Mode, scope: MarkScope = .gaps, accept: EditScope = .certain,
        confirm: @escaping (Int) -> Bool = { _ in true }
    ) async throws -> SyncReport {
        let known = graph.tenantActions.flatMap { action -> [String] in
            if case .sql = action.kind { return [] }
            return action.migrations.map(\.name)
        }
        if case .upTo(let name) = scope, !known.contains(name) {
            throw TenantPlanError.unknownMigration(name, known: known)
        }
        if case .named(let names) = accept, let unknown = names.sorted().first(where: { !known.contains($0) }) {
            throw TenantPlanError.unknownMigration(unknown, known: known)
        }
        return try await SyncRun(
            session: session(), mode: mode, scope: scope, accept: accept, dryRun: options.dryRun, confirm: confirm
        ).run()
    }

    /// Converts every tenant's tracking tables to `target` (only those in `source`, when given).
    public func convertTracking(to target: TrackingFormat, from source: TrackingFormat?) async throws -> ConvertReport {
        try ConvertRun.checkTarget(target, graph: graph)
        return try await ConvertRun(session: session(), target: target, source: source, dryRun: options.dryRun).run()
    }
}
