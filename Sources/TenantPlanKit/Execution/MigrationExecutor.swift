import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// The outcome of applying one action's pending migrations.
struct ExecutionOutcome {
    var applied: [Report.AppliedMigration] = []
    var error: Report.ErrorInfo?
    /// After a lost connection: migrations whose row the batch wrote, committed or not (unknown),
    /// each with its key and the writing transaction.
    var unconfirmed: [(key: String, writer: String, migration: Report.AppliedMigration)] = []
    /// The one-trip path's check refused (`ExecutionContext.firstBegin`): nothing was done.
    var checkFailed = false
}

/// Applies pending migrations with their tracking rows on one connection (blocking).
///
/// Transactional migrations are sent in one round trip: for `per-migration`, a text of
/// `BEGIN; settings; migration; tracking insert; COMMIT;` blocks, one per migration (the server
/// stops at the first error, so every earlier migration stays committed with its row and the
/// failing one leaves nothing); for `per-action`, one transaction around all of them.
/// `-- tenantplan: no-transaction` migrations and `transaction: none` run statement by
/// statement in autocommit, the tracking row recorded after the last statement.
struct MigrationExecutor {
    var connection: PGConnection
    var context: ExecutionContext
    var table: TrackingTableRef
    var format: TrackingFormat
    /// The action the migrations belong to (for the commands a message suggests).
    var actionName = ""
    /// Each row records the time its migration ran (the table has the column).
    var recordsTime = true
    var mode: TransactionMode
    /// Under a transaction pooler, `database.directUrl`: where what runs outside a transaction goes.
    var direct: ConnectionSettings?
    var isInterrupted: @Sendable () -> Bool
    /// Told of each batch before it is sent (`0003_a` or `0003_a..0005_c`).
    var sending: (@Sendable (String) -> Void)? = nil

    func apply(_ pending: [Migration]) -> ExecutionOutcome {
        var outcome = ExecutionOutcome()
        var batch: [Migration] = []
        func flush(final: Bool = false) -> Bool {
            defer { batch.removeAll() }
            guard !batch.isEmpty else { return true }
            let result =
                mode == .perAction ? runSingleTransaction(batch, final: final) : runPerMigration(batch, final: final)
            outcome.checkFailed = result.checkFailed
            // (A per-action batch holding a file the parser skipped commits only after its results are seen.)
            outcome.applied += result.applied
            outcome.error = result.error
            outcome.unconfirmed += result.unconfirmed
            return result.error == nil
        }
        for migration in pending {
            if isInterrupted() {
                // Nothing of the collected batch was sent: it stays pending.
                outcome.error = Self.interruptedError(batch.first?.name ?? migration.name)
                return outcome
            }
            if mode == .perMigration, migration.skipsParser, !migration.noTransaction {
                // Not checked by the parser: sent alone (a syntax error in it holds back no other
                // migration), and committed only once its results are seen (a COPY through the
                // client, which the parser would have refused, then rolls back).
                guard flush() else { return outcome }
                let result = runBatch([migration], perMigration: true, holdCommit: true)
                outcome.applied += result.applied
                outcome.unconfirmed += result.unconfirmed
                if let error = result.error {
                    outcome.error = error
                    return outcome
                }
                continue
            }
            if mode == .none || migration.noTransaction {
                guard flush() else { return outcome }
                let result = runAutocommit(migration)
                outcome.applied += result.applied
                if let error = result.error {
                    outcome.error = error
                    return outcome
                }
            } else {
                batch.append(migration)
            }
        }
        _ = flush(final: true)
        return outcome
    }

    static func interruptedError(_ migration: String?) -> Report.ErrorInfo {
        Report.ErrorInfo(migration: migration, sqlstate: "57014", message: "interrupted before this migration started")
    }

    /// Builds the text and remembers where each migration's SQL starts (in characters).
    /// `final`: nothing else of the target follows the text on the session (`ExecutionContext.commit(last:)`).
    private func script(_ migrations: [Migration], perMigration: Bool, holdCommit: Bool = false, final: Bool = false)
        -> (text: String, offsets: [Int])
    {
        var text = ""
        var length = 0
        var offsets: [Int] = []
        func append(_ piece: String) {
            text += piece
            length += piece.unicodeScalars.count
        }
        // The first mark comes with the settings, after the first BEGIN: no statement may run before
        // it in the transaction, whose isolation it sets (`PooledTransaction.begin`). Later ones come
        // with each tracking insert.
        if !perMigration { append(context.begin(first: true) + context.settings(local: true, mark: true) + "\n") }
        for (index, migration) in migrations.enumerated() {
            if perMigration {
                append(context.begin(first: index == 0) + context.settings(local: true, mark: index == 0) + "\n")
            }
            // Under a checked first transaction, what it checked covers its migrations.
            if context.firstBegin == nil || (perMigration && index > 0) {
                append(context.unrecordedCheck([migration], in: table, format: format))
            }
            if format == .tenantplan { append(TrackingSQL.markStart) }
            offsets.append(length)
            append(migration.batchText)
            append(
                "\n;\n"
                    + TrackingSQL.guardedRecord(
                        migration, in: table, format: format, recordsTime: recordsTime, token: context.guardToken)
                    + ";")
            if perMigration, !holdCommit { append(context.commit(last: final && index == migrations.count - 1)) }
        }
        if !perMigration, !holdCommit { append(context.commit(last: final)) }
        return (text, offsets)
    }

    private func marks(_ results: [PGResult]) -> [Double] {
        results.compactMap { result in
            guard result.rowCount == 1, let column = result.column(named: TrackingSQL.markColumn) else { return nil }
            return result.value(0, column).flatMap(Double.init)
        }
    }

    private func durations(_ marks: [Double], count: Int) -> [Int] {
        (0..<count).map { index in
            guard index + 1 < marks.count else { return 0 }
            return max(0, Int(((marks[index + 1] - marks[index]) * 1000).rounded()))
        }
    }

    /// A one-trip text (`ExecutionContext.firstBegin`) failed before its check passed: the lock was
    /// taken, or the tables changed, since the batched read (or the text was refused whole). Nothing ran.
    /// Only a server's error says so: after a lost connection (whose results may never have come),
    /// what committed is unknown, and the lost-connection handling applies.
    private func refusedBeforeRunning(_ result: PGConnection.MultiOutcome) -> Bool {
        guard context.firstBegin != nil, let error = result.error, error.kind == .server else { return false }
        return !result.results.contains { $0.columnCount == 1 && $0.columnName(0) == PooledTransaction.checkedColumn }
    }

    private func rollbackIfNeeded() {
        if !connection.isHealthy { _ = connection.execAll("ROLLBACK") }
    }

    private func errorInfo(_ error: PostgresError, migration: Migration?, offset: Int?, length: Int?)
        -> Report.ErrorInfo
    {
        var info = Report.ErrorInfo(error, migration: migration?.name)
        if let position = error.position, let offset, let length, position > offset, position <= offset + length {
            info.position = position - offset
        } else {
            info.position = nil
        }
        if error.kind == .canceled { info.message = "canceled: " + info.message }
        return info
    }

    private func runPerMigration(_ migrations: [Migration], final: Bool) -> ExecutionOutcome {
        runBatch(migrations, perMigration: true, final: final)
    }

    /// Each migration in its own round trip, in order, until one fails: for a batch the server
    /// refused whole (a syntax error anywhere stops it before anything runs), so that the
    /// migrations before the broken one commit and the broken one is named.
    private func runOneByOne(_ migrations: [Migration]) -> ExecutionOutcome {
        var outcome = ExecutionOutcome()
        for migration in migrations {
            let single = runBatch([migration], perMigration: true)
            outcome.applied += single.applied
            outcome.unconfirmed += single.unconfirmed
            if let error = single.error {
                outcome.error = error
                break
            }
        }
        return outcome
    }

    private func runSingleTransaction(_ migrations: [Migration], final: Bool) -> ExecutionOutcome {
        runBatch(migrations, perMigration: false, holdCommit: migrations.contains { $0.skipsParser }, final: final)
    }

    /// Sends the batch in one round trip. On failure, finds what committed and which migration failed:
    /// per-migration, by reading the tracking rows back (not guessing); per-action, nothing committed
    /// and the timing marks received tell how far it got.
    private func runBatch(_ migrations: [Migration], perMigration: Bool, holdCommit: Bool = false, final: Bool = false)
        -> ExecutionOutcome
    {
        let (text, offsets) = script(migrations, perMigration: perMigration, holdCommit: holdCommit, final: final)
        let result = send(text, labelled: migrations, holdCommit: holdCommit)
        if refusedBeforeRunning(result) {
            rollbackIfNeeded()
            return ExecutionOutcome(checkFailed: true)
        }
        // The guard found the transaction it guards gone: the migration ended it.
        let endedItsTransaction = TrackingSQL.lostGuard(result.error)
        if holdCommit, result.error != nil, !connection.isHealthy { _ = connection.execAll("ROLLBACK") }
        let marks = marks(result.results)
        func applied(_ count: Int) -> [Report.AppliedMigration] {
            zip(migrations.prefix(count), durations(marks, count: count)).map {
                .init(name: $0.name, hash: $0.hash, durationMs: $1)
            }
        }
        guard let error = result.error else { return ExecutionOutcome(applied: applied(migrations.count)) }
        if marks.isEmpty, perMigration, migrations.count > 1, error.kind == .server { return runOneByOne(migrations) }
        rollbackIfNeeded()
        var committed = 0
        var connectionLost = false
        var failedIndex = min(max(0, marks.count - 1), migrations.count - 1)
        if marks.isEmpty, let position = error.position, let holder = offsets.lastIndex(where: { $0 < position }) {
            // Refused whole (a syntax error): the migration whose text holds the error's position.
            failedIndex = holder
        }
        // Per-migration, or when a migration ended the transaction (which committed what came before
        // it, rows included, even in one per-action transaction): what committed is read back.
        if perMigration || endedItsTransaction {
            if let state = try? TrackingReader.read([table], on: connection)[table] {
                let recorded = state.keys
                // Recorded, and reached by this batch (a mark follows each migration's row): under a
                // transaction pooler, a racing run may have recorded the ones this batch stopped at.
                committed = min(
                    migrations.prefix { recorded.contains(format.usesHash ? $0.hash : $0.name) }.count,
                    max(0, marks.count - 1))
                // (Per-action, the marks say which migration ended the transaction; earlier ones may
                // have been rolled back with it.)
                if perMigration { failedIndex = committed }
            } else {
                // The connection is gone: what committed is unknown here (a mark arrives before its
                // COMMIT), so nothing is claimed; the next run re-reads the table and goes on from there.
                committed = 0
                connectionLost = true
            }
        }
        var outcome = ExecutionOutcome(applied: applied(committed))
        let failed = failedIndex < migrations.count ? migrations[failedIndex] : nil
        outcome.error = errorInfo(
            error, migration: failed, offset: failed.map { _ in offsets[failedIndex] },
            length: failed.map { $0.batchText.unicodeScalars.count })
        if endedItsTransaction { outcome.error = Self.endedTransactionError(failed?.name) }
        if connectionLost {
            outcome.unconfirmed = unconfirmed(result.results, migrations, marks: marks)
            outcome.error = outcome.error.map { Self.lostConnection($0, migrations, resultsCame: !marks.isEmpty) }
        }
        return outcome
    }

    /// The error of a batch whose connection was lost: what committed is unknown; when no result
    /// came back, which migration was running is unknown too.
    private static func lostConnection(_ error: Report.ErrorInfo, _ migrations: [Migration], resultsCame: Bool)
        -> Report.ErrorInfo
    {
        var error = error
        if !resultsCame, migrations.count > 1 {
            error.migration = nil
            error.position = nil
            error.message = "during \(migrations[0].name)..\(migrations[migrations.count - 1].name): " + error.message
        }
        error.message +=
            " (the connection was lost: which of the batch's migrations committed is "
            + "unknown until the next run re-reads the tracking table)"
        return error
    }

    /// Sends a batch with the connection labelled with its migrations (for logs); with
    /// `holdCommit`, commits only once the results are seen, when nothing failed.
    private func send(_ text: String, labelled migrations: [Migration], holdCommit: Bool) -> PGConnection.MultiOutcome {
        let label =
            migrations.count == 1
            ? migrations[0].name : "\(migrations[0].name)..\(migrations[migrations.count - 1].name)"
        sending?(label)
        connection.labels["migration"] = label
        defer { connection.labels["migration"] = nil }
        var result = connection.execAll(text)
        if holdCommit, result.error == nil { result.error = connection.execAll(context.commit).error }
        return result
    }

    /// The migrations of a batch whose row was written (`guardedRecord` returned its transaction)
    /// before the connection was lost.
    private func unconfirmed(_ results: [PGResult], _ migrations: [Migration], marks: [Double]) -> [(
        key: String, writer: String, migration: Report.AppliedMigration
    )] {
        let writers = results.compactMap { result in
            result.rowCount == 1 ? result.column(named: TrackingSQL.writerColumn).flatMap { result.value(0, $0) } : nil
        }
        let durations = durations(marks, count: writers.count)
        return zip(migrations.prefix(writers.count), zip(writers, durations)).map {
            (format.usesHash ? $0.hash : $0.name, $1.0, .init(name: $0.name, hash: $0.hash, durationMs: $1.1))
        }
    }

    /// The command that records `migration` as applied on this tenant alone.
    private func markCommand(_ migration: Migration) -> String {
        let action = actionName.isEmpty ? "" : actionName + ":"
        let tenant = context.tenantID.isEmpty ? "" : " --tenant \(context.tenantID)"
        return "tenantplan apply PLAN --mark-applied --up-to \(action)\(migration.name)\(tenant)"
    }

    static func endedTransactionError(_ migration: String?) -> Report.ErrorInfo {
        Report.ErrorInfo(
            migration: migration, sqlstate: "2D000",
            message: "the migration ended the transaction it runs in (a COMMIT or ROLLBACK in a file the parser "
                + "did not check, `-- tenantplan: no-parse`): what ran before that in the transaction was committed "
                + "or rolled back with it, the rest did not run, and no tracking row was written for this migration",
            hint: "remove the transaction control; run statements that need their own transactions in a migration "
                + "starting with `-- tenantplan: no-transaction`, then fix this tenant by hand")
    }

    /// Statement by statement, outside any transaction; the row is recorded after the last one.
    /// Under a transaction pooler, on a session of its own (`direct`), holding the target's lock
    /// there for the migration's length.
    private func runAutocommit(_ migration: Migration) -> ExecutionOutcome {
        guard let pooled = context.pooled else { return runAutocommit(migration, on: connection) }
        guard let direct else {
            return ExecutionOutcome(
                error: Report.ErrorInfo(
                    migration: migration.name,
                    message: "a migration outside a transaction needs database.directUrl "
                        + "under database.pooler: transaction"))
        }
        let session: PGConnection
        do {
            session = try PGConnection.connect(direct.conninfo, overrides: direct.overrides)
            if !direct.setup.isEmpty { try session.exec(direct.setup) }
            try AdvisoryLock.acquire(
                pooled.lockName, wait: pooled.lockWait,
                then: TrackingSQL.unrecordedCheck(
                    [format.usesHash ? migration.hash : migration.name], in: table, format: format), on: session)
        } catch {
            return ExecutionOutcome(error: Report.ErrorInfo(error, migration: migration.name))
        }
        defer { AdvisoryLock.release(pooled.lockName, on: session) }
        var onSession = self
        onSession.connection = session
        onSession.context.pooled = nil
        return onSession.runAutocommit(migration, on: session)
    }

    private func runAutocommit(_ migration: Migration, on connection: PGConnection) -> ExecutionOutcome {
        let started = Date()
        do {
            try connection.exec(context.settings(local: false))
            defer { _ = connection.execAll(ExecutionContext.reset) }
            for (number, (statement, offset)) in zip(migration.statements, migration.statementOffsets).enumerated() {
                if isInterrupted() {
                    guard number > 0 else { return ExecutionOutcome(error: Self.interruptedError(migration.name)) }
                    return ExecutionOutcome(
                        error: Report.ErrorInfo(
                            migration: migration.name, sqlstate: "57014",
                            message: "interrupted after \(number) of \(migration.statements.count) statements of this "
                                + "no-transaction migration: those stay applied; no tracking row was written",
                            hint: "finish it by hand, then record it: " + markCommand(migration)))
                }
                do {
                    try connection.exec(statement)
                } catch {
                    var info = errorInfo(error, migration: migration, offset: nil, length: nil)
                    info.position = error.position.map { $0 + offset }
                    info.message +=
                        " (no-transaction migration: statements before this one stay applied; "
                        + "no tracking row was written)"
                    return ExecutionOutcome(error: info)
                }
            }
            let elapsed = Int(Date().timeIntervalSince(started) * 1000)
            do {
                try connection.exec(TrackingSQL.record(migration, in: table, format: format, executionMs: elapsed))
            } catch {
                var info = Report.ErrorInfo(error, migration: migration.name)
                info.message =
                    "the no-transaction migration ran, but its tracking row could not be written: " + info.message
                info.hint =
                    "record it without running it again: " + markCommand(migration)
                return ExecutionOutcome(error: info)
            }
        } catch {
            return ExecutionOutcome(error: Report.ErrorInfo(error, migration: migration.name))
        }
        let elapsed = Int(Date().timeIntervalSince(started) * 1000)
        return ExecutionOutcome(applied: [.init(name: migration.name, hash: migration.hash, durationMs: elapsed)])
    }
}
