import TenantPlanSpec

extension Report.ActionResult {
    /// An action's step as a dry run reports it (`pending`: what would run, mark or be deleted).
    public static func planned(_ step: ActionStep, schema: String? = nil) -> Report.ActionResult {
        var result = Report.ActionResult(
            name: step.action.name, schema: schema, status: .unchanged, durationMs: 0, format: step.format, applied: [])
        switch step.decision {
        case .unchanged:
            result.skippedBecause = step.note
        case .skipped(let reason):
            result.status = .skipped
            result.skippedBecause = reason
        case .failed(let error):
            result.status = .failed
            result.error = error
        case .change(let change):
            result.status = .pending
            if !change.run.isEmpty { result.pending = change.run.map(\.name) }
            if !change.mark.isEmpty { result.marked = change.mark.map(\.name) }
            if !change.deleteOrphans.isEmpty { result.deletedOrphans = change.deleteOrphans.map(\.key) }
        }
        return result
    }

    static func skipped(_ action: Action, because reason: String, schema: String? = nil) -> Self {
        Self(name: action.name, schema: schema, status: .skipped, durationMs: 0, applied: [], skippedBecause: reason)
    }

    static func failed(_ action: Action, error: Report.ErrorInfo, schema: String? = nil) -> Self {
        Self(name: action.name, schema: schema, status: .failed, durationMs: 0, applied: [], error: error)
    }
}

extension Report.TenantResult {
    /// Adds what `steps` would do, as a dry run reports it (or, with nothing to do, as a run
    /// that did not need to connect reports it).
    mutating func addPlanned(_ steps: TenantSteps) {
        if steps.createsOwnSchema { createdSchema = true }
        if let error = steps.error { self.error = error }
        if !steps.conversions.isEmpty {
            conversions = steps.conversions
            convertedTo = steps.conversions.first?.to
        }
        actions += steps.actions.map { Report.ActionResult.planned($0) }
        let changes = actions.contains { $0.status == .pending } || createdSchema == true || convertedTo != nil
        if changes || steps.error != nil { unchanged = false }
    }
}
