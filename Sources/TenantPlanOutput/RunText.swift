import TenantPlanKit
import TenantPlanSpec

/// The human output of `apply` and `plan`: progress lines, per-tenant lines and the summary,
/// each a pure function of a report (or of one event's payload).
public enum RunText {
    /// `discovered 19 tenants, 1 after --tenant/--exclude`.
    public static func discovered(_ counts: DiscoveryCounts) -> String {
        var text = "discovered \(Plural.count(counts.discovered, "tenant"))"
        if counts.afterPlanFilters != counts.discovered {
            text += ", \(counts.afterPlanFilters) after the plan's include/exclude"
        }
        if counts.selected != counts.afterPlanFilters { text += ", \(counts.selected) after --tenant/--exclude" }
        return text
    }

    /// A shared action's line.
    public static func shared(_ action: Report.ActionResult, dryRun: Bool) -> String {
        var text = "shared \(action.name) (\(action.schema ?? "public")): "
        if let conversion = action.conversions?.first {
            text +=
                "\(dryRun ? "would convert" : "converted") tracking \(conversion.from.rawValue) -> "
                + "\(conversion.to.rawValue) (\(Plural.count(conversion.rows.count, "row"))); "
        }
        return text + describe(action: action)
    }

    /// What an action did (or would do).
    public static func describe(action: Report.ActionResult) -> String {
        switch action.status {
        case .applied:
            var parts: [String] = []
            if !action.applied.isEmpty { parts.append("applied " + Plural.list(action.applied.map(\.name))) }
            if let marked = action.marked { parts.append("marked as applied " + Plural.list(marked)) }
            if let deleted = action.deletedOrphans {
                parts.append("deleted \(Plural.count(deleted.count, "orphan row"))")
            }
            return parts.joined(separator: ", ")
        case .unchanged:
            return action.skippedBecause ?? "up to date"
        case .pending:
            var parts: [String] = []
            if let pending = action.pending { parts.append("would apply " + Plural.list(pending)) }
            if let marked = action.marked { parts.append("would mark as applied " + Plural.list(marked)) }
            if let deleted = action.deletedOrphans {
                parts.append("would delete \(Plural.count(deleted.count, "orphan row"))")
            }
            return parts.isEmpty ? "would convert its tracking table" : parts.joined(separator: ", ")
        case .skipped:
            return "skipped (\(action.skippedBecause ?? "not run"))"
        case .failed:
            var text = "FAILED"
            if !action.applied.isEmpty {
                text = "applied \(action.applied.map(\.name).joined(separator: ", ")), then FAILED"
            }
            if let error = action.error { text += " " + describe(error: error) }
            return text
        }
    }

    /// An error with everything the server said.
    public static func describe(error: Report.ErrorInfo) -> String {
        var text = ""
        if let migration = error.migration { text += "at \(migration): " }
        text += error.message
        if let sqlstate = error.sqlstate { text += " (SQLSTATE \(sqlstate))" }
        if let position = error.position { text += " at character \(position)" }
        if let detail = error.detail { text += "; detail: \(detail)" }
        if let hint = error.hint { text += "; hint: \(hint)" }
        return text
    }

    /// What happened to a tenant, or would happen in a dry run: `ok acme (tenant_acme) 12 ms: ...`;
    /// a dry run drops the mark and the time: `acme (tenant_acme): ...`.
    public static func tenant(_ tenant: Report.TenantResult, dryRun: Bool) -> String {
        let parts = changes(of: tenant, dryRun: dryRun)
        let body = parts.isEmpty ? "up to date" : parts.joined(separator: "; ")
        if dryRun { return "\(tenant.id) (\(tenant.schema)): " + body }
        let mark = tenant.status == .failed ? "FAILED" : tenant.status == .skipped ? "skipped" : "ok"
        return "\(mark) \(tenant.id) (\(tenant.schema)) \(tenant.durationMs) ms: " + body
    }

    /// A tenant's changes, one phrase each (schema, conversion, error, then each action that did something).
    static func changes(of tenant: Report.TenantResult, dryRun: Bool) -> [String] {
        var parts: [String] = []
        if tenant.createdSchema == true { parts.append(dryRun ? "would create the schema" : "created the schema") }
        if let to = tenant.convertedTo, let conversions = tenant.conversions {
            let rows = conversions.reduce(0) { $0 + $1.rows.count }
            parts.append(
                "\(dryRun ? "would convert" : "converted") tracking \(tenant.format?.rawValue ?? "?") "
                    + "-> \(to.rawValue) (\(Plural.count(rows, "row")))")
        }
        if let error = tenant.error { parts.append(describe(error: error)) }
        for action in tenant.actions where action.status != .unchanged {
            parts.append("\(action.name): " + describe(action: action))
        }
        return parts
    }

    /// The closing line. A run that failed as a whole (connection, discovery) has no summary:
    /// see `fatal`.
    public static func summary(_ report: Report) -> String {
        let s = report.summary
        var text: String
        if report.options.dryRun {
            let changing = s.succeeded - s.unchanged
            text =
                "dry run: \(Plural.count(s.tenants, "tenant")): \(changing) would change, \(s.unchanged) up to date, "
                + "\(s.failed) failed, \(s.skipped) skipped; "
                + "\(Plural.count(s.migrationsPending ?? 0, "migration")) would run"
        } else {
            text =
                "\(Plural.count(s.tenants, "tenant")): \(s.succeeded) succeeded (\(s.unchanged) unchanged), "
                + "\(s.failed) failed, \(s.skipped) skipped; \(Plural.count(s.migrationsApplied, "migration")) applied"
        }
        if let marked = s.migrationsMarked {
            text += report.options.dryRun ? ", \(marked) would be marked as applied" : ", \(marked) marked as applied"
        }
        if let converted = s.tenantsConverted {
            text +=
                ", tracking tables of \(Plural.count(converted, "tenant")) "
                + (report.options.dryRun ? "would be converted" : "converted")
        }
        if let retries = s.retries { text += ", \(retries) \(retries == 1 ? "retry" : "retries")" }
        text += " in \(report.durationMs) ms"
        if let reason = report.stopReason { text += " (stopped: \(report.stopDetail ?? reason.description))" }
        return text
    }

    /// What a failed tenant failed on, the same words for the same failure on any tenant:
    /// `0005_lame_syntax: 42601 syntax error at or near "WHER"`. Nil for a tenant that did not fail.
    public static func failureKey(_ tenant: Report.TenantResult) -> String? {
        guard tenant.status == .failed else { return nil }
        guard let error = tenant.error ?? tenant.actions.first(where: { $0.status == .failed })?.error else {
            return nil
        }
        let code = error.sqlstate.map { "\($0) " } ?? ""
        return (error.migration.map { "\($0): " } ?? "") + code + error.message
    }

    /// Failed tenants that share a failure, one line per failure, largest first:
    /// `18 tenants: 0005_lame_syntax: 42601 syntax error at or near "WHER" (acme, globex, … and 13 more)`.
    /// A failure of a single tenant has its own tenant line and no group.
    public static func failureGroups(_ report: Report, naming: Int = 5) -> [String] {
        var order: [String] = []
        var ids: [String: [String]] = [:]
        for tenant in report.tenants {
            guard let key = failureKey(tenant) else { continue }
            if ids[key] == nil { order.append(key) }
            ids[key, default: []].append(tenant.id)
        }
        let groups = order.filter { ids[$0]!.count > 1 }.sorted { ids[$0]!.count > ids[$1]!.count }
        return groups.map { key in
            let members = ids[key]!
            var named = members.prefix(naming).joined(separator: ", ")
            if members.count > naming { named += ", … and \(members.count - naming) more" }
            return "\(Plural.count(members.count, "tenant")): \(key) (\(named))"
        }
    }

    /// A transient failure about to be retried:
    /// `retry acme (tenant_acme): attempt 1 of 3 failed: at 0002_x: … (SQLSTATE 57P01); attempt 2 in 87 ms`.
    public static func retrying(
        tenant: String, schema: String, attempt: Int, of total: Int, delayMs: Int, error: Report.ErrorInfo
    ) -> String {
        "retry \(tenant) (\(schema)): attempt \(attempt) of \(total) failed: \(describe(error: error)); "
            + "attempt \(attempt + 1) in \(delayMs) ms"
    }

    /// Waiting for another run's lock: `wait acme (tenant_acme): tenant:tenant_acme is locked by
    /// another run (pid 4242, application_name tenantplan, since …); waiting up to 30s (database.lockWait)`.
    public static func waitingForLock(tenant: String, schema: String, holder: String, lockWaitMs: Int) -> String {
        "wait \(tenant) (\(schema)): \(holder); waiting "
            + (lockWaitMs == 0
                ? "for it (database.lockWait: no bound)"
                : "up to \(PlanDuration.milliseconds(Int64(lockWaitMs))) (database.lockWait)")
    }

    /// `error: ...` for a run that failed as a whole, nil otherwise.
    public static func fatal(_ report: Report) -> String? {
        report.error.map { "error: " + describe(error: $0) }
    }
}
