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
    /// The error the tenant failed with: outside any action, or its first failed action's.
    var failure: Report.ErrorInfo? {
        error ?? actions.first { $0.status == .failed }?.error
    }

    /// This outcome, then `later`'s attempt: what earlier attempts committed stays reported (a
    /// migration applied before the connection was lost is applied, once), the rest is `later`'s.
    func followed(by later: TenantExecutor.Outcome) -> TenantExecutor.Outcome {
        var merged = later
        merged.attempts = attempts + later.attempts
        merged.createdSchema = createdSchema || later.createdSchema
        merged.conversions = conversions + later.conversions
        merged.actions = later.actions.map { action in
            guard let before = actions.first(where: { $0.name == action.name }) else { return action }
            var action = action
            let committed = before.status == .failed ? before.applied : []
            if before.status != .failed, before.status != .skipped, action.status == .unchanged {
                return before
            }
            action.applied = committed + action.applied
            if action.status == .unchanged, !action.applied.isEmpty { action.status = .applied }
            return action
        }
        return merged
    }
}
