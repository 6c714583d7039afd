import TenantPlanSpec

/// A broken migration is not a thousand broken tenants: counts the tenants that failed on the same
/// migration with the same SQLSTATE and message, and the migrations some tenant applied. Once
/// `limit` tenants failed identically on a migration no tenant applied, the run should start no
/// more tenants. Pure; the apply run feeds it each finished tenant.
public struct IdenticalFailures: Sendable {
    /// How many identical failures stop the run (0: never).
    public let limit: Int
    /// The failure that tripped the limit, with how many tenants it hit.
    public private(set) var tripped: (failure: Report.ErrorInfo, tenants: Int)?
    private var counts: [Failure: Int] = [:]
    private var applied: Set<String> = []

    private struct Failure: Hashable {
        var migration: String
        var sqlstate: String
        var message: String
    }

    public init(limit: Int) {
        self.limit = limit
    }

    /// A tenant finished: what it applied, and the error of its failed action, if any.
    public mutating func record(applied names: [String], failure: Report.ErrorInfo?) {
        applied.formUnion(names)
        guard limit > 0, tripped == nil, let failure, let migration = failure.migration,
            let sqlstate = failure.sqlstate, !applied.contains(migration)
        else { return }
        let key = Failure(migration: migration, sqlstate: sqlstate, message: failure.message)
        counts[key, default: 0] += 1
        if counts[key]! >= limit { tripped = (failure, counts[key]!) }
    }

    /// Why the run stopped, in words, once tripped.
    public var detail: String? {
        guard let (failure, tenants) = tripped, let migration = failure.migration else { return nil }
        return "\(migration) failed the same way on \(tenants) tenants and applied on none in this run "
            + "(\(failure.sqlstate ?? "") \(failure.message)); fix the migration and rerun"
    }
}
