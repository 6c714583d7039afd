import TenantPlanSpec

/// Retrying a tenant of `apply`: which failures are safe to try again, and how attempts add up.
enum ApplyRetry {
    /// The rule for a stage's sweep or a shared action: `database.retry`, announced as
    /// `RunEvent.retrying` for the target `name(index)` gives (id and schema).
    static func rule(
        plan: Plan, actions: [Action], name: @escaping @Sendable (Int) -> (id: String, schema: String),
        events: @escaping @Sendable (RunEvent) -> Void
    ) -> RetryRule<TenantExecutor.Outcome>? {
        guard plan.database.retry.maxAttempts > 1 else { return nil }
        let settings = plan.database.retry
        return RetryRule(
            settings: settings,
            isRetryable: { retryable($0, actions: actions) },
            merge: { $0.followed(by: $1) },
            announce: { index, attempt, outcome, delay in
                guard let error = outcome.failure else { return }
                let target = name(index)
                events(
                    .retrying(
                        tenant: target.id, schema: target.schema, attempt: attempt, of: settings.maxAttempts,
                        delayMs: delay, error: error))
            })
    }

    /// A tenant's failure is retried when its error is transient (`TransientErrors`) and the
    /// failed step rolled back whole: an action run in transactions, a migration without the
    /// no-transaction directive. A statement of a no-transaction migration or of a
    /// `transaction: none` action may have taken effect before the connection went: never retried.
    static func retryable(_ outcome: TenantExecutor.Outcome, actions: [Action]) -> Bool {
        guard let error = outcome.failure, error.transient else { return false }
        for result in outcome.actions where result.status == .failed {
            guard let action = actions.first(where: { $0.name == result.name }) else { return false }
            if action.transaction == .none { return false }
            if let own = result.error, !own.transient { return false }
            let migration = result.error?.migration ?? error.migration
            if action.migrations.contains(where: { $0.name == migration && $0.noTransaction }) { return false }
        }
        return true
    }
}

extension TenantExecutor.Outcome {
    /// Puts `failedAttempts` on the applied migrations they belong to.
    fileprivate mutating func countAttempts() {
        for index in actions.indices {
            for place in actions[index].applied.indices {
                let failed = failedAttempts[actions[index].name + "/" + actions[index].applied[place].name] ?? 0
                if failed > 0 { actions[index].applied[place].attempts = failed + 1 }
            }
        }
    }

    /// The error the tenant failed with: outside any action, or its first failed action's.
    var failure: Report.ErrorInfo? {
        error ?? actions.first { $0.status == .failed }?.error
    }

    /// This outcome, then `later`'s attempt: what earlier attempts committed stays reported (a
    /// migration applied before the connection was lost is applied, once), the rest is `later`'s.
    /// A migration whose commit a lost connection left unknown counts as this run's when `later`
    /// read its row written by the transaction that sent it.
    func followed(by later: TenantExecutor.Outcome) -> TenantExecutor.Outcome {
        var merged = later
        merged.attempts = attempts + later.attempts
        merged.createdSchema = createdSchema || later.createdSchema
        merged.conversions = conversions + later.conversions
        var confirmed: [String: [Report.AppliedMigration]] = [:]
        var stillUnknown: [TenantExecutor.Outcome.Unconfirmed] = []
        for row in unconfirmed {
            if later.readStates[row.table]?.writers[row.key] == row.writer {
                confirmed[row.action, default: []].append(row.migration)
            } else if later.readStates.isEmpty {
                stillUnknown.append(row)  // `later` read nothing: the next attempt may tell
            }
        }
        merged.unconfirmed = stillUnknown + later.unconfirmed
        merged.readStates = later.readStates
        merged.failedAttempts = failedAttempts
        for attempt in attempts == 1 ? [self, later] : [later] {
            for action in attempt.actions where action.status == .failed {
                if let migration = action.error?.migration {
                    merged.failedAttempts[action.name + "/" + migration, default: 0] += 1
                }
            }
        }
        guard !later.actions.isEmpty else {
            // `later` failed before any action (it could not connect): the earlier results stand.
            merged.actions = actions.map { action in
                var action = action
                action.applied += confirmed[action.name] ?? []
                return action
            }
            merged.countAttempts()
            return merged
        }
        merged.actions = later.actions.map { action in
            let before = actions.first { $0.name == action.name }
            if let before, before.status != .failed, before.status != .skipped, action.status == .unchanged {
                return before
            }
            var action = action
            let committed = (before?.status == .failed ? before?.applied ?? [] : []) + (confirmed[action.name] ?? [])
            action.applied = committed + action.applied
            if action.status == .unchanged, !action.applied.isEmpty { action.status = .applied }
            return action
        }
        merged.countAttempts()
        return merged
    }
}
