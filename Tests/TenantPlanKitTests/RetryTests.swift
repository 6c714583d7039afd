import Foundation
import TenantPlanPostgres
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

@Suite struct RetryTests {
    @Test("delays grow by the multiplier up to maxDelay; full jitter draws below the ceiling")
    func schedule() {
        var settings = RetrySettings()
        settings.jitter = .none
        #expect(
            (1...8).map { settings.delay(afterAttempt: $0, random: { 0.5 }) } == [
                100, 200, 400, 800, 1600, 3200, 5000, 5000,
            ])
        settings.jitter = .full
        #expect(settings.delay(afterAttempt: 3, random: { 0.25 }) == 100)
        #expect(settings.delay(afterAttempt: 3, random: { 1 }) == 400)
        #expect(settings.delay(afterAttempt: 20, random: { 0 }) == 0)
        settings.backoffMultiplier = 1
        settings.initialDelay = .milliseconds(30)
        #expect(settings.ceiling(afterAttempt: 5) == 30)
    }

    @Test("a retry rule retries retryable outcomes up to maxAttempts, sleeping the schedule, merging attempts")
    func ruleSchedule() async {
        let slept = Recorder()
        let announced = Recorder()
        var settings = RetrySettings()
        settings.jitter = .none
        settings.maxAttempts = 4
        let rule = RetryRule<Int>(
            settings: settings, isRetryable: { $0 < 10 }, merge: { $0 + $1 },
            announce: { _, attempt, _, delay in announced.add(attempt * 10_000 + delay) },
            sleep: { slept.add($0) })
        let counter = Recorder()
        let failing = await rule.run(index: 0, interrupted: { false }, attempt: { counter.add(1) })
        #expect(failing == 1 + 2 + 3 + 4)
        #expect(slept.values == [100, 100, 100, 100, 100, 100, 100], "700 ms in slices of at most 100")
        #expect(announced.values == [10_100, 20_200, 30_400])
        let fine = await rule.run(index: 0, interrupted: { false }, attempt: { 42 })
        #expect(fine == 42)
        let stopped = await rule.run(index: 0, interrupted: { true }, attempt: { 1 })
        #expect(stopped == 1)
    }

    @Test("transient: class 08, deadlock, serialization, shutdown, too many connections, lock timeout; not syntax")
    func transient() {
        func error(_ sqlstate: String?, _ message: String = "m", kind: PostgresError.Kind = .server) -> Bool {
            TransientErrors.isTransient(.init(kind: kind, message: message, sqlstate: sqlstate))
        }
        for state in ["08006", "08001", "40001", "40P01", "53300", "57P01", "57P02", "57P03"] {
            #expect(error(state), "\(state)")
        }
        #expect(error("55P03", "canceling statement due to lock timeout"))
        #expect(!error("55P03", "could not obtain lock on relation \"t\""))
        #expect(error(nil, "server closed the connection unexpectedly", kind: .connection))
        for state in ["42601", "23505", "42P01", "57014", "22012"] { #expect(!error(state), "\(state)") }
    }

    @Test("attempts add up: what an earlier attempt committed stays applied; a finished action stays as it was")
    func outcomesMerge() {
        func applied(_ names: [String]) -> [Report.AppliedMigration] {
            names.map { Report.AppliedMigration(name: $0, hash: "", durationMs: 1) }
        }
        var first = TenantExecutor.Outcome()
        first.actions = [
            Report.ActionResult(name: "a", status: .applied, durationMs: 1, applied: applied(["a1"])),
            Report.ActionResult(name: "m", status: .failed, durationMs: 1, applied: applied(["0001"])),
        ]
        first.createdSchema = true
        var second = TenantExecutor.Outcome()
        second.actions = [
            Report.ActionResult(name: "a", status: .unchanged, durationMs: 1, applied: []),
            Report.ActionResult(name: "m", status: .applied, durationMs: 1, applied: applied(["0002"])),
        ]
        let merged = first.followed(by: second)
        #expect(merged.attempts == 2)
        #expect(merged.createdSchema)
        #expect(merged.actions.map(\.status) == [.applied, .applied])
        #expect(merged.actions.map { $0.applied.map(\.name) } == [["a1"], ["0001", "0002"]])
        var third = TenantExecutor.Outcome()
        third.actions = [Report.ActionResult(name: "m", status: .unchanged, durationMs: 1, applied: [])]
        var failedOnce = TenantExecutor.Outcome()
        failedOnce.actions = [
            Report.ActionResult(name: "m", status: .failed, durationMs: 1, applied: applied(["0001"]))
        ]
        #expect(failedOnce.followed(by: third).actions.first?.status == .applied)
        #expect(failedOnce.followed(by: third).failure == nil)
    }

    @Test(
        "the circuit: one probe for the run on the retry schedule; waiters go on when it answers, or learn it gave up")
    func circuit() async throws {
        final class Probes: @unchecked Sendable {
            let lock = NSLock()
            var failuresLeft: Int
            var probes = 0
            var slept: [Int] = []
            init(failing: Int) { failuresLeft = failing }
        }
        func make(_ probes: Probes, maxAttempts: Int) -> Circuit {
            var settings = RetrySettings(maxAttempts: maxAttempts, initialDelay: .milliseconds(100))
            settings.jitter = .none
            let circuit = Circuit(
                settings: settings,
                probe: {
                    probes.lock.withLock {
                        probes.probes += 1
                        guard probes.failuresLeft > 0 else { return nil }
                        probes.failuresLeft -= 1
                        return PostgresError(kind: .connection, message: "no such file")
                    }
                },
                announce: { _, _, _ in }, interrupted: { false })
            circuit.sleep = { milliseconds in probes.lock.withLock { probes.slept.append(milliseconds) } }
            return circuit
        }
        let comesBack = Probes(failing: 2)
        let open = make(comesBack, maxAttempts: 5)
        #expect(await open.passage() == nil, "closed: no wait")
        open.trip()
        open.trip()  // a second tenant while it is open: still one probe
        #expect(await open.passage() == nil)
        #expect(comesBack.probes == 3)
        #expect(comesBack.slept == [100, 100, 100], "100 ms, then 200 ms (in slices of at most 100 ms)")
        #expect(open.tripCount == 1)
        let gone = Probes(failing: 100)
        let closedForGood = make(gone, maxAttempts: 3)
        closedForGood.trip()
        let reason = await closedForGood.passage()
        #expect(reason?.contains("gave up after 3 attempts") == true, "\(reason as Any)")
        #expect(gone.probes == 3)
        #expect(closedForGood.gaveUp != nil)
    }

    @Test("a row a lost connection may have committed is this run's only if the next read shows it by that transaction")
    func unconfirmedRows() {
        let table = TrackingTableRef(schema: "t_a", table: "__drizzle_migrations")
        func row(_ name: String, writer: String) -> TenantExecutor.Outcome.Unconfirmed {
            .init(
                action: "m", table: table, key: name, writer: writer,
                migration: Report.AppliedMigration(name: name, hash: "", durationMs: 1))
        }
        var lost = TenantExecutor.Outcome()
        lost.actions = [Report.ActionResult(name: "m", status: .failed, durationMs: 1, applied: [])]
        lost.unconfirmed = [row("0001", writer: "700"), row("0002", writer: "701")]
        let cannotConnect = TenantExecutor.Outcome(error: Report.ErrorInfo(message: "no server"))
        var state = TrackingState(format: .hash)
        state.writers = ["0001": "700", "0002": "999"]  // 0002 was written by another transaction
        var done = TenantExecutor.Outcome()
        done.readStates = [table: state]
        done.actions = [
            Report.ActionResult(
                name: "m", status: .applied, durationMs: 1,
                applied: [Report.AppliedMigration(name: "0003", hash: "", durationMs: 1)])
        ]
        let waited = lost.followed(by: cannotConnect)
        #expect(waited.unconfirmed.count == 2, "an attempt that read nothing decides nothing")
        #expect(waited.actions.first?.status == .failed)
        let merged = waited.followed(by: done)
        #expect(merged.actions.first?.applied.map(\.name) == ["0001", "0003"])
        #expect(merged.unconfirmed.isEmpty)
        #expect(merged.attempts == 3)
    }

    @Test("retryable: a transient error in a transactional step only; never a no-transaction step or a mixed failure")
    func retryableOutcomes() {
        let plain = Build.migrate("m", [Build.migration("0001_a"), Build.migration("0002_b")])
        let noTransaction = Build.migrate(
            "n", [Build.migration("0001_c", "-- tenantplan: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);")])
        var autocommit = Build.migrate("x", [Build.migration("0001_d")])
        autocommit.transaction = .none
        func outcome(_ action: String, _ migration: String, transient: Bool, targetError: Bool = false)
            -> TenantExecutor.Outcome
        {
            var error = Report.ErrorInfo(migration: migration, sqlstate: transient ? "57P01" : "42601", message: "x")
            error.transient = transient
            var outcome = TenantExecutor.Outcome()
            outcome.actions = [
                Report.ActionResult(name: action, status: .failed, durationMs: 0, applied: [], error: error)
            ]
            if targetError {
                var lost = Report.ErrorInfo(message: "server closed the connection unexpectedly")
                lost.transient = true
                outcome.error = lost
            }
            return outcome
        }
        let actions = [plain, noTransaction, autocommit]
        #expect(ApplyRetry.retryable(outcome("m", "0002_b", transient: true), actions: actions))
        #expect(!ApplyRetry.retryable(outcome("m", "0002_b", transient: false), actions: actions))
        #expect(!ApplyRetry.retryable(outcome("n", "0001_c", transient: true), actions: actions))
        #expect(!ApplyRetry.retryable(outcome("x", "0001_d", transient: true), actions: actions))
        #expect(!ApplyRetry.retryable(outcome("m", "0002_b", transient: false, targetError: true), actions: actions))
        var lostBeforeAnyAction = TenantExecutor.Outcome()
        lostBeforeAnyAction.error = Report.ErrorInfo(message: "lost")
        lostBeforeAnyAction.error?.transient = true
        #expect(ApplyRetry.retryable(lostBeforeAnyAction, actions: actions))
        #expect(!ApplyRetry.retryable(TenantExecutor.Outcome(), actions: actions))
    }

    /// A migration that kills its own backend while the sequence `public.kills` is at most `kills`
    /// (nextval is not rolled back, so each attempt counts), after creating a table.
    static func killer(kills: Int) -> String {
        """
        CREATE TABLE made (id int);
        SELECT CASE WHEN nextval('public.kills') <= \(kills) THEN pg_terminate_backend(pg_backend_pid()) END;
        """
    }

    @Test("a backend killed mid-migration is retried on a new connection; the migration is applied once")
    func killedBackendRetried() async throws {
        let db = try await TestDatabase.create("retry_kill")
        try await db.exec("CREATE SEQUENCE public.kills")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_first.sql", "CREATE TABLE first (id int);")
        try fixture.write("m/0002_killer.sql", Self.killer(kills: 2))
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(["a"], actions: "  - { name: m, migrate: m }"), database: db)
        plan.database.retry.initialDelay = .milliseconds(10)
        let report = try await runApply(plan, db)
        let tenant = try #require(report.tenant("a"))
        #expect(tenant.status == .succeeded, "\(tenant)")
        #expect(tenant.attempts == 3)
        #expect(report.summary.retries == 2)
        // 0001 and 0002 went in one batch; 0001 committed before the kill, unknown to this attempt
        // (the connection went before its COMMIT's answer). The next attempt read its row, written
        // by the transaction that sent it: it is reported as this run's. Each is in the database once.
        #expect(tenant.actions.first?.applied.map(\.name) == ["0001_first", "0002_killer"])
        #expect(tenant.actions.first?.applied.map(\.attempts) == [nil, 3], "0002 was killed twice, then applied")
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 2)
        #expect(try await db.count("SELECT count(DISTINCT name) FROM t_a.__drizzle_migrations") == 2)
        #expect(
            try await db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 't_a' AND tablename = 'first'") == 1)
        #expect(
            try await db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 't_a' AND tablename = 'made'") == 1)
    }

    @Test("a shared action whose backend is killed is retried too, and its tenants then run")
    func sharedActionRetried() async throws {
        let db = try await TestDatabase.create("retry_shared")
        try await db.exec("CREATE SEQUENCE public.kills")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "shared/0001_killer.sql",
            "CREATE TABLE public.made (id int);\n"
                + "SELECT CASE WHEN nextval('public.kills') <= 1 THEN pg_terminate_backend(pg_backend_pid()) END;")
        try fixture.write("tenant/0001_t.sql", "CREATE TABLE t (id int);")
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(
                ["a", "b"],
                actions: """
                      - { name: shared-schema, scope: shared, migrate: shared, \
                    tracking: { table: __shared_migrations, format: name } }
                      - { name: tenant-schema, after: [shared-schema], migrate: tenant }
                    """), database: db)
        plan.database.retry.initialDelay = .milliseconds(10)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.sharedActions.map { $0.error as Any })")
        #expect(report.sharedActions.first?.status == .applied)
        #expect(report.sharedActions.first?.attempts == 2)
        #expect(report.sharedActions.first?.applied.first?.attempts == 2)
        #expect(report.summary.retries == 1, "a shared action's retry counts too")
        #expect(report.summary.succeeded == 2)
        #expect(try await db.count("SELECT last_value FROM public.kills") == 2)
        #expect(try await db.count("SELECT count(*) FROM public.__shared_migrations") == 1)
        #expect(try await db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'made'") == 1)
    }

    @Test("attempts run out: the tenant fails with the last error, and nothing of the migration is left")
    func attemptsRunOut() async throws {
        let db = try await TestDatabase.create("retry_out")
        try await db.exec("CREATE SEQUENCE public.kills")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_killer.sql", Self.killer(kills: 5))
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(["a"], actions: "  - { name: m, migrate: m }"), database: db)
        plan.database.retry.initialDelay = .milliseconds(10)
        plan.database.retry.maxAttempts = 2
        let report = try await runApply(plan, db)
        let tenant = try #require(report.tenant("a"))
        #expect(tenant.status == .failed)
        #expect(tenant.attempts == 2)
        #expect(try await db.count("SELECT last_value FROM public.kills") == 2)
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 0)
        #expect(
            try await db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 't_a' AND tablename = 'made'") == 0)
    }

    @Test("a tenant locked by another run waits lockWait, not statementTimeout, then fails naming the holder")
    func lockWait() async throws {
        let db = try await TestDatabase.create("lock_wait")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(["a", "b"], actions: "  - { name: m, migrate: m }"), database: db)
        // statementTimeout well under lockWait, yet loose enough for a loaded machine (the whole
        // suite runs in parallel): the wait must outlast it.
        plan.database.lockWait = .milliseconds(2500)
        plan.database.statementTimeout = .milliseconds(1000)
        // The same lock key held in another database of the same server is not this tenant's holder.
        let decoy = try await TestDatabase.create("lock_wait_decoy")
        try await decoy.exec("SELECT pg_advisory_lock(\(AdvisoryLock.namespace), hashtext('tenant:t_a'))")
        let holder = try #require(try await db.scalar("SELECT pg_backend_pid()::text"))
        try await db.exec("SELECT pg_advisory_lock(\(AdvisoryLock.namespace), hashtext('tenant:t_a'))")
        let began = Date()
        let events = EventLog()
        let report = try await PlanRunner(
            plan: plan, conninfo: db.conninfo, options: RunOptions(command: "apply"), events: events.record
        ).apply()
        let waited = Date().timeIntervalSince(began)
        #expect(events.waits.count == 1, "the wait is announced once: \(events.waits)")
        #expect(
            events.waits.first?.hasPrefix("a|t_a|2500|tenant:t_a is locked by another run (pid \(holder), ") == true)
        let error = try #require(report.tenant("a")?.error)
        #expect(report.tenant("a")?.status == .failed)
        #expect(error.sqlstate == "55P03")
        #expect(error.message.hasPrefix("tenant:t_a is locked by another run (pid \(holder), application_name "))
        #expect(error.message.hasSuffix("; gave up after database.lockWait 2500ms"))
        #expect(report.tenant("a")?.attempts == nil, "a bounded wait is the user's choice, not a transient error")
        #expect(waited >= 2.5)
        #expect(report.tenant("b")?.status == .succeeded, "\(report.tenant("b")?.error as Any)")
        try await db.exec("SELECT pg_advisory_unlock_all()")
        let rerun = try await runApply(plan, db)
        #expect(rerun.tenant("a")?.status == .succeeded, "\(rerun.tenant("a")?.error as Any)")
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 1)
    }

    @Test("a discovery query whose backend is killed is run again (database.retry), then the run goes on")
    func discoveryRetried() async throws {
        let db = try await TestDatabase.create("retry_discover")
        try await db.exec(
            "CREATE SEQUENCE public.kills; CREATE TABLE public.tenants (id text); "
                + "INSERT INTO public.tenants VALUES ('a'), ('b')")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        let yaml = """
            version: 1
            database: { url: "${TEST_DATABASE_URL}", retry: { initialDelay: 10ms } }
            tenants:
              discover:
                sql: >-
                  SELECT id FROM public.tenants WHERE (SELECT CASE WHEN nextval('public.kills') <= 1
                  THEN pg_terminate_backend(pg_backend_pid()) ELSE true END)
              schema: "t_{id}"
              createSchemas: true
            actions: [{ name: m, migrate: m }]
            """
        let events = EventLog()
        let report = try await PlanRunner(
            plan: try fixture.compile(yaml, database: db), conninfo: db.conninfo, options: RunOptions(command: "apply"),
            events: events.record
        ).apply()
        #expect(report.exitCode == 0, "\(report.error as Any)")
        #expect(report.summary.succeeded == 2)
        #expect(events.warnings.count == 1, "\(events.warnings)")
        #expect(events.warnings.first?.hasPrefix("reading the tenants failed: ") == true)
    }

    /// Collects the lock waits (`tenant|schema|lockWait|holder`) and warnings a run announces.
    final class EventLog: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        private var warningLines: [String] = []
        var waits: [String] { lock.withLock { lines } }
        var warnings: [String] { lock.withLock { warningLines } }

        func record(_ event: RunEvent) {
            switch event {
            case .waitingForLock(let tenant, let schema, let holder, let lockWait):
                lock.withLock { lines.append("\(tenant)|\(schema)|\(lockWait)|\(holder)") }
            case .warning(let text):
                lock.withLock { warningLines.append(text) }
            default:
                break
            }
        }
    }

    @Test("never retried: a syntax or data error, a killed no-transaction migration, maxAttempts 1")
    func notRetried() async throws {
        let db = try await TestDatabase.create("retry_not")
        try await db.exec("CREATE SEQUENCE public.kills")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_x.sql", "SELECT CASE WHEN current_setting('tenantplan.tenant_id') = 'a' THEN 1 END / 0;")
        try fixture.write(
            "n/0001_killer.sql", "-- tenantplan: no-transaction\n" + Self.killer(kills: 5))
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(
                ["a", "b"], actions: "  - { name: m, migrate: m }\n  - { name: n, migrate: n }"),
            database: db)
        plan.database.retry.initialDelay = .milliseconds(10)
        plan.stopAfterIdenticalFailures = 0
        let report = try await runApply(plan, db)
        #expect(report.tenant("a")?.status == .failed)
        #expect(report.tenant("a")?.attempts == nil)
        #expect(report.tenant("a")?.actions.first?.error?.sqlstate == "22012")
        // b passes m, then n kills its backend after CREATE TABLE committed on its own: never retried.
        #expect(report.tenant("b")?.status == .failed)
        #expect(report.tenant("b")?.attempts == nil)
        #expect(try await db.count("SELECT last_value FROM public.kills") == 1)
        #expect(report.summary.retries == nil)
    }
}

/// Values collected from concurrent closures.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int] = []
    var values: [Int] { lock.withLock { stored } }

    /// Appends `value`; returns how many values were added so far.
    @discardableResult func add(_ value: Int) -> Int {
        lock.withLock {
            stored.append(value)
            return stored.count
        }
    }
}
