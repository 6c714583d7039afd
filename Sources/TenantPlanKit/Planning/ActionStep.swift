import TenantPlanSpec

/// How far `apply --mark-applied` records an action's migrations.
public enum MarkLimit: Sendable, Equatable {
    case all
    case through(String)
    /// After the action holding `--up-to`: skipped.
    case nothing
    /// Left as it is (a shared action, when the run names tenants): unchanged, blocking nothing.
    case untouched

    /// The part of `migrations` this limit records.
    public func limit(_ migrations: [Migration]) -> [Migration] {
        switch self {
        case .all: return migrations
        case .nothing, .untouched: return []
        case .through(let name):
            guard let index = migrations.firstIndex(where: { $0.name == name }) else { return migrations }
            return Array(migrations[...index])
        }
    }
}

/// What a run does with the actions' migrations.
public enum PlanningMode: Sendable, Equatable {
    /// Run pending migrations and scripts; `markApplied` and `sync` actions record as they say.
    case apply
    /// `apply --mark-applied [--up-to NAME]`: per action name, how far to record without running.
    case markApplied([String: MarkLimit])
}

/// What one tracking table gets: migrations to run (each with its row), migrations to record
/// without running, orphan rows to delete, and the table itself when it does not exist yet.
public struct TableChange: Sendable {
    public var table: TrackingTableRef
    /// The layout rows are written in.
    public var format: TrackingFormat
    public var createTable: Bool
    public var run: [Migration] = []
    public var mark: [Migration] = []
    public var deleteOrphans: [TrackingState.Row] = []
    /// Applied migrations edited since, whose new hash is recorded (`sync --accept-edits`).
    public var acceptEdits: [HistoryCheck.Edited] = []
    /// The table has its format's time column: each migration run records the time it ran.
    public var recordsTime = true

    public init(
        table: TrackingTableRef, format: TrackingFormat, createTable: Bool, run: [Migration] = [],
        mark: [Migration] = [], deleteOrphans: [TrackingState.Row] = []
    ) {
        self.table = table
        self.format = format
        self.createTable = createTable
        self.run = run
        self.mark = mark
        self.deleteOrphans = deleteOrphans
    }

    public var isEmpty: Bool { run.isEmpty && mark.isEmpty && deleteOrphans.isEmpty && acceptEdits.isEmpty }

    /// The table as it reads once the change is made (planning later actions on the same table).
    public func applied(to state: TrackingState) -> TrackingState {
        var next = state
        // By key: a legacy table without an id column reads every id as 0.
        let removed = Set(deleteOrphans.map(\.key))
        next.rows.removeAll { removed.contains($0.key) }
        next.record(run + mark, format: format)
        return next
    }

    /// SQL creating the table (when needed), recording `mark` and deleting the orphans: what
    /// commits without running any migration.
    public var recordSQL: String { recordSQL(checked: false) }

    /// `recordSQL`; `checked` (under a transaction pooler) first fails the transaction as a
    /// conflict when another run recorded any of `mark` since the table was read.
    func recordSQL(checked: Bool) -> String {
        var sql = createTable ? TrackingSQL.createTable(table, format: format) + ";" : ""
        if checked, !mark.isEmpty {
            sql += TrackingSQL.unrecordedCheck(
                mark.map { format.usesHash ? $0.hash : $0.name }, in: table, format: format)
        }
        sql += mark.map { TrackingSQL.record($0, in: table, format: format) + ";" }.joined()
        if !deleteOrphans.isEmpty {
            sql += TrackingSQL.deleteRows(withKeys: deleteOrphans.map(\.key), in: table, format: format)
        }
        sql += acceptEdits.map { TrackingSQL.acceptEdit($0, in: table, format: format) }.joined()
        return sql
    }
}

/// What one action does on one tenant (or in one shared schema), decided from its tracking table.
public struct ActionStep: Sendable {
    public enum Decision: Sendable {
        /// Nothing to do.
        case unchanged
        case change(TableChange)
        /// The table cannot be used (unreadable, unrecognised, in another format).
        case failed(Report.ErrorInfo)
        /// Not run, for this reason.
        case skipped(String)
    }

    public var action: Action
    public var table: TrackingTableRef
    /// The format resolved for the table (nil when it cannot be used or the action is skipped).
    public var format: TrackingFormat?
    public var decision: Decision
    /// The records commit with the tenant's other records in one transaction (`--mark-applied`).
    public var deferred = false
    /// Why an unchanged step changes nothing though it might have (shown instead of "up to date").
    public var note: String?

    public var change: TableChange? {
        if case .change(let change) = decision { return change }
        return nil
    }

    public var isSkipped: Bool {
        if case .skipped = decision { return true }
        return false
    }

    /// Skipped for `reason`.
    public static func skipped(_ action: Action, table: TrackingTableRef, because reason: String) -> ActionStep {
        ActionStep(action: action, table: table, format: nil, decision: .skipped(reason))
    }

    /// Decides what `action` does to its table in `state`. `known` is everything a row of the
    /// table may match (orphans are rows matching none of it).
    /// `freshSchema`: this run creates the schema, so nothing was applied in it by hand: a
    /// `markApplied` or `sync markMissing` action records nothing there (its migrations then run).
    public static func decide(
        _ action: Action, table: TrackingTableRef, state: TrackingState, known: [Migration], mode: PlanningMode,
        freshSchema: Bool = false
    ) -> ActionStep {
        let format: TrackingFormat
        switch FormatResolution.resolve(action.tracking, state: state, table: table) {
        case .failure(let error): return ActionStep(action: action, table: table, decision: .failed(error))
        case .success(let resolved): format = resolved
        }
        var change = TableChange(table: table, format: format, createTable: !state.exists)
        change.recordsTime = !state.lacksTimeColumn
        var step = ActionStep(action: action, table: table, format: format, decision: .unchanged)
        if case .markApplied(let limits) = mode, let limit = limits[action.name] {
            change.mark = state.pending(limit.limit(action.recordable))
            step.deferred = true
            if change.isEmpty, limit == .nothing {
                step.decision = .skipped("it runs after the action holding --up-to")
                return step
            }
            if limit == .untouched { step.note = "left as it is: the run names tenants (--tenant/--exclude)" }
        } else {
            switch action.kind {
            case .migrate, .sql:
                change.run = state.pending(action.migrations)
            case .markApplied:
                change.mark = freshSchema ? [] : state.pending(action.recordable)
                if freshSchema { step.note = "a schema this run creates has nothing to record" }
            case .sync(let set, let markMissing, let cleanOrphans):
                if markMissing, !freshSchema { change.mark = state.pending(set.migrations) }
                if cleanOrphans { change.deleteOrphans = state.orphans(known) }
            }
        }
        if !change.isEmpty { step.decision = .change(change) }
        return step
    }
}
