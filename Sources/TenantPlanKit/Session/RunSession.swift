import Foundation
import Logging
import TenantPlanPostgres
import TenantPlanSpec

/// What the batched read found for one tenant.
struct TenantState: Sendable {
    var schemaExists: Bool
    /// The schema holds objects (what a tenant migrated by hand or by another tool looks like).
    var populated = false
    var tables: [TrackingTableRef: TrackingState]
}

/// The state every command starts from: the discovered tenants, each tenant's tracking tables
/// (built once from the plan) and what the batched read found in them.
struct Snapshot: Sendable {
    var tenants: [Tenant]
    var tables: [TenantTables]
    var states: [TenantState]
    var counts: DiscoveryCounts
    var target: ConnInfo.Target

    /// Indices of the tenants whose id makes a valid schema.
    var validIndices: [Int] { tenants.indices.filter { tenants[$0].invalidReason == nil } }
}

/// `apply`'s guess, for the everyday deploy where nearly every tenant is at the same state: once a
/// sample of tenants is read, the rows of the others are not read but assumed to be those of most
/// of the sample, when `worthIt` says that state takes the one-trip path (migrations to run).
/// Each such tenant's one-trip text then checks its table holds exactly those rows before anything
/// runs (`TrackingSQL.holdsExactly`); one that does not takes the locked path, which reads it.
struct Speculation: Sendable {
    /// Whether tenant `index`, at `state` (read), would run migrations on the one-trip path.
    var worthIt: @Sendable (_ index: Int, _ state: TenantState, _ snapshot: Snapshot) -> Bool
    /// From how many tenants (valid ones) a sample is read first; at least three batches.
    var minimum = defaultMinimum
    static let defaultMinimum = 2000
    /// The share of the sample that must be at one state.
    static let agreement = 0.9
}

/// One run's connection to the database, shared by every command: a pool with the plan's
/// connection settings, discovery, the batched tracking read, and the sweep over tenants.
final class RunSession: Sendable {
    let plan: Plan
    let graph: ExecutionGraph
    let pool: ConnectionPool
    let control: RunControl
    let filter: TenantFilter
    let events: @Sendable (RunEvent) -> Void
    /// Under a transaction pooler: what each tenant transaction needs, with `database.directUrl`.
    let pooling: TenantExecutor.Pooling?
    /// The run's one wait while the database cannot be reached (nil without retry).
    let circuit: Circuit?

    init(
        plan: Plan, graph: ExecutionGraph, conninfo: String, filter: TenantFilter, control: RunControl,
        events: @escaping @Sendable (RunEvent) -> Void, logger: Logger = Logger(label: "tenantplan"),
        readOnly: Bool = false
    ) {
        self.plan = plan
        self.graph = graph
        let settings = ConnectionSettings(plan: plan, conninfo: conninfo, readOnly: readOnly)
        self.pool = settings.makePool(
            capacity: plan.concurrency, recycleAfter: plan.database.recycleAfter ?? 1000,
            recycleAfterUnread: plan.database.recycleAfter ?? 10,
            recycleAboveBytes: plan.database.pooler == .transaction ? 0 : plan.database.recycleAboveMB << 20,
            logging: RunLogging(plan.debug, logger: logger))
        self.control = control
        self.filter = filter
        self.events = events
        if plan.database.pooler == .transaction {
            let direct = plan.database.directUrl.map {
                ConnectionSettings(
                    plan: plan,
                    conninfo: EnvironmentExpander(environment: ProcessInfo.processInfo.environment)
                        .expand($0).value, session: true)
            }
            self.pooling = TenantExecutor.Pooling(plan: plan, direct: direct)
        } else {
            self.pooling = nil
        }
        self.circuit =
            plan.database.retry.maxAttempts > 1
            ? Self.circuit(settings, plan: plan, control: control, events: events) : nil
        control.attach(pool)
    }

    /// The circuit: its probe opens a connection of its own (an idle pooled one may be dead
    /// since the outage) and runs `SELECT 1`.
    private static func circuit(
        _ settings: ConnectionSettings, plan: Plan, control: RunControl,
        events: @escaping @Sendable (RunEvent) -> Void
    ) -> Circuit {
        let retry = plan.database.retry
        return Circuit(
            settings: retry,
            probe: {
                do {
                    let session = try await PGSession.open(
                        settings.conninfo, overrides: settings.overrides,
                        setup: settings.setup.isEmpty ? nil : settings.setup)
                    _ = try await session.run { try $0.exec("SELECT 1") }
                    return nil
                } catch {
                    return error
                }
            },
            announce: { attempt, delay, error in
                events(
                    .warning(
                        "the database cannot be reached (\(error)); no tenant starts or retries until it answers: "
                            + "attempt \(attempt + 1) of \(retry.maxAttempts) in \(delay) ms"))
            },
            interrupted: { control.isInterrupted })
    }

    func close() async {
        await pool.close()
    }

    /// Runs `body`, then closes the pool whatever happened.
    func closing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            await close()
            return value
        } catch {
            await close()
            throw error
        }
    }

    /// Runs `body` on a pooled connection that does not count as a tenant's. `waitForServer`:
    /// the run's first connection, which waits for a server that is down or starting (`acquire`).
    func withConnection<T: Sendable>(
        waitForServer: Bool = false, _ body: @escaping @Sendable (PGConnection) throws -> T
    ) async throws -> T {
        let session = try await acquire(waitForServer: waitForServer)
        do {
            let value = try await session.run(body)
            await pool.release(session, countsAsTenant: false)
            return value
        } catch {
            await pool.release(session, countsAsTenant: false)
            throw error
        }
    }

    /// A connection, or the failure to connect named after `database.url`. With `waitForServer`,
    /// a failure to connect is retried as a whole with `database.retry` (one wait for the run, not
    /// one per tenant), each retry announced as a warning; the error says how many attempts it took.
    private func acquire(waitForServer: Bool = false) async throws -> PGSession {
        let retry = plan.database.retry
        var attempt = 1
        while true {
            do {
                return try await pool.acquire()
            } catch var error as PostgresError where error.kind == .connection || TransientErrors.isTransient(error) {
                let refusedOptions = error.message.contains("unsupported startup parameter")
                if refusedOptions { error.message += ConnectionSettings.poolerAdvice }
                guard waitForServer, attempt < retry.maxAttempts, !control.isInterrupted, !refusedOptions else {
                    if attempt > 1 { error.message += " (gave up after \(attempt) attempts)" }
                    throw RunFailure(location: plan.database.urlLocation, key: "database.url", error: error)
                }
                let delay = Int(retry.delay(afterAttempt: attempt, random: Backoff.random).rounded())
                events(
                    .warning(
                        "cannot connect: \(error.message); "
                            + "attempt \(attempt + 1) of \(retry.maxAttempts) in \(delay) ms"
                    ))
                await Backoff.pause(delay, interrupted: { control.isInterrupted })
                attempt += 1
            }
        }
    }

    /// Discovers the tenants and reads every tenant's tracking tables in batches, in parallel over
    /// the pool. A transient failure of discovery's query or of the read (a deadlock, a
    /// serialization failure, a connection lost or a shutdown mid-query) starts it over with
    /// `database.retry`, a warning per attempt; failing to connect at all is `acquire`'s wait.
    func snapshot(speculation: Speculation? = nil) async throws -> Snapshot {
        let retry = plan.database.retry
        var attempt = 1
        while true {
            do {
                return try await takeSnapshot(speculation: speculation)
            } catch let error where attempt < retry.maxAttempts && !control.isInterrupted {
                guard let transient = Self.transientReadFailure(error) else { throw error }
                let delay = Int(retry.delay(afterAttempt: attempt, random: Backoff.random).rounded())
                events(
                    .warning(
                        "reading the tenants failed: \(transient.message); attempt \(attempt + 1) of "
                            + "\(retry.maxAttempts) in \(delay) ms"))
                await Backoff.pause(delay, interrupted: { self.control.isInterrupted })
                attempt += 1
            }
        }
    }

    /// The transient database error behind a failed discovery or read, if that is what it was (not
    /// a failure to connect, which `acquire` waited for already).
    private static func transientReadFailure(_ error: Error) -> PostgresError? {
        if let failure = error as? RunFailure {
            return failure.key != "database.url" && TransientErrors.isTransient(failure.error) ? failure.error : nil
        }
        if let error = error as? PostgresError, TransientErrors.isTransient(error) { return error }
        return nil
    }

    private func takeSnapshot(speculation: Speculation?) async throws -> Snapshot {
        let settings = plan.tenants
        let pooler = plan.database.pooler
        let urlLocation = plan.database.urlLocation
        let (ids, target) = try await withConnection(waitForServer: true) { connection in
            do {
                if pooler == .none { try ConnectionSettings.verifySession(on: connection) }
            } catch let error as PostgresError {
                throw RunFailure(location: urlLocation, key: "database.url", error: error)
            }
            do {
                return (try TenantDiscovery.discover(settings, on: connection), ConnInfo.target(of: connection))
            } catch let error as PostgresError where error.kind != .connection && error.kind != .canceled {
                throw RunFailure(location: settings.discoverLocation, key: settings.discover.key, error: error)
            }
        }
        let templates = Set(graph.tenantActions.map(\.tracking.schema) + settings.searchPath).sorted()
        let (tenants, counts) = try TenantDiscovery.tenants(
            ids: ids, settings: settings, filter: filter, templates: templates)
        events(.discovered(counts))
        let tables = tenants.map { TenantTables(tenant: $0, graph: graph) }
        var snapshot = Snapshot(
            tenants: tenants, tables: tables,
            states: Array(
                repeating: TenantState(schemaExists: false, populated: false, tables: [:]), count: tenants.count),
            counts: counts, target: target)
        let valid = snapshot.validIndices
        guard let speculation, valid.count >= max(speculation.minimum, 2 * TrackingReader.batchSize + 1) else {
            try await readStates(valid.chunked(into: TrackingReader.batchSize), into: &snapshot)
            return snapshot
        }
        // The sample: one batch spread evenly over the tenants (not the first ones, which may be
        // the oldest or the newest).
        let step = Double(valid.count) / Double(TrackingReader.batchSize)
        let sample = (0..<TrackingReader.batchSize).map { valid[Int(Double($0) * step)] }
        // Read over every connection at once: a no-op run reads everything after it, so the sample
        // must not cost it a round of its own.
        try await readStates(sample.chunked(into: (sample.count + pool.capacity - 1) / pool.capacity), into: &snapshot)
        let sampled = Set(sample)
        let rest = valid.filter { !sampled.contains($0) }.chunked(into: TrackingReader.batchSize)
        let assumed = Self.commonState(sample, in: snapshot).flatMap { index, state in
            speculation.worthIt(index, snapshot.states[index], snapshot)
                ? (snapshot.tables[index].refs[0].table, state) : nil
        }
        try await readStates(rest, into: &snapshot, assuming: assumed)
        return snapshot
    }

    /// The tracking state most of `sample` is at (tenants with one table, of the same format and
    /// columns, holding the same rows as planning reads them: `TrackingSQL.assumedItems`), with a
    /// tenant at it; nil when less than `Speculation.agreement` of the sample agrees.
    static func commonState(_ sample: [Int], in snapshot: Snapshot) -> (index: Int, state: TrackingState)? {
        var groups: [String: (index: Int, count: Int)] = [:]
        for index in sample {
            let refs = snapshot.tables[index].refs
            guard refs.count == 1, snapshot.states[index].schemaExists,
                let state = snapshot.states[index].tables[refs[0]], let format = state.format,
                state.readError == nil, let layout = state.layout, let items = TrackingSQL.assumedItems(state)
            else { continue }
            let keys = items.joined(separator: "\u{1e}")
            groups["\(format.rawValue)\u{1d}\(refs[0].table)\u{1d}\(layout)\u{1d}\(keys)", default: (index, 0)].count +=
                1
        }
        guard let top = groups.values.max(by: { $0.count < $1.count }),
            Double(top.count) >= Speculation.agreement * Double(sample.count)
        else { return nil }
        return (top.index, snapshot.states[top.index].tables[snapshot.tables[top.index].refs[0]]!)
    }

    /// The batched read: chunks of tenants, each read on its own connection with a few queries (schemas, table
    /// columns, one UNION ALL of the rows). `assuming`: the rows of a tenant's only table, when it has
    /// that state's name, format and columns, are not read but assumed (`Speculation`).
    private func readStates(
        _ chunks: [[Int]], into snapshot: inout Snapshot, assuming: (table: String, state: TrackingState)? = nil
    ) async throws {
        let tenants = snapshot.tenants
        let tables = snapshot.tables
        let read = try await onPool(chunks) { chunk, connection in
            let single = Set(chunk.compactMap { tables[$0].refs.count == 1 ? tables[$0].refs[0] : nil })
            let skip = assuming.map { table, assumed in
                { (ref: TrackingTableRef, format: TrackingFormat, layout: String) in
                    single.contains(ref) && ref.table == table && format == assumed.format && layout == assumed.layout
                }
            }
            return (
                try TrackingReader.existingSchemas(chunk.map { tenants[$0].schema }, on: connection),
                try TrackingReader.read(chunk.flatMap { tables[$0].refs }, skipRows: skip, on: connection)
            )
        }
        for (chunk, (existing, states)) in zip(chunks, read) {
            for index in chunk {
                let found = tables[index].refs.map { ref in
                    var state = states[ref] ?? .missing
                    if state.speculative, let assuming { state.rows = assuming.state.rows }
                    return (ref, state)
                }
                snapshot.states[index] = TenantState(
                    schemaExists: existing[tenants[index].schema] != nil,
                    populated: existing[tenants[index].schema] == true,
                    tables: Dictionary(found, uniquingKeysWith: { first, _ in first }))
            }
        }
    }

    /// `work` for each of `items`, `pool.capacity` at a time, each on a pooled connection that does
    /// not count as a tenant's; the results in the order of `items`. The first error ends it.
    func onPool<Item: Sendable, Value: Sendable>(
        _ items: [Item], _ work: @escaping @Sendable (Item, PGConnection) throws -> Value
    ) async throws -> [Value] {
        let pool = self.pool
        var results = [Value?](repeating: nil, count: items.count)
        try await withThrowingTaskGroup(of: (Int, Value).self) { group in
            var next = 0
            func addTask() {
                guard next < items.count else { return }
                let (index, item) = (next, items[next])
                next += 1
                group.addTask {
                    let session = try await pool.acquire()
                    do {
                        let value = try await session.run { try work(item, $0) }
                        await pool.release(session, countsAsTenant: false)
                        return (index, value)
                    } catch {
                        await pool.release(session, countsAsTenant: false)
                        throw error
                    }
                }
            }
            for _ in 0..<min(items.count, pool.capacity) { addTask() }
            while let (index, value) = try await group.next() {
                results[index] = value
                addTask()
            }
        }
        return results.map { $0! }
    }
}

extension Discovery {
    /// The plan key of this way of discovering: `tenants.discover.sql`, `.list` or `.schemaLike`.
    var key: String {
        switch self {
        case .sql: "tenants.discover.sql"
        case .list: "tenants.discover.list"
        case .schemaLike: "tenants.discover.schemaLike"
        }
    }
}
