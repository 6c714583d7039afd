import TenantPlanKit

/// `sync` output: each group of tenants in the same state with its drift, failures, totals.
public enum SyncText {
    public static func text(_ report: SyncReport) -> String {
        var lines: [String] = []
        for group in report.groups {
            lines.append("\(Plural.tenants(group.sample, total: group.count)):")
            if !group.drift.missing.isEmpty { lines.append("  missing: " + Plural.list(group.drift.missing)) }
            if !group.drift.orphans.isEmpty { lines.append("  orphans: " + Plural.list(group.drift.orphans)) }
            for edit in group.drift.edited {
                lines.append(
                    "  edited since applied: \(edit.migration) (recorded sha256 \(edit.recorded.prefix(12))..., "
                        + "file now \(edit.now.prefix(12))...)")
            }
            let edited = Set(group.drift.edited.map(\.migration))
            for pair in group.drift.likely where !edited.contains(pair.migration) {
                lines.append("  likely \(pair.kind): \(pair.migration) (recorded as \(pair.recorded.prefix(16)))")
            }
        }
        for tenant in report.tenants where tenant.status == .failed {
            let reason = tenant.error.map(RunText.describe(error:)) ?? "unknown error"
            lines.append("failed \(tenant.id) (\(tenant.schema)): " + reason)
        }
        lines.append(summary(report))
        return lines.joined(separator: "\n")
    }

    static func summary(_ report: SyncReport) -> String {
        let s = report.summary
        var text =
            "\(report.dryRun ? "dry run: " : "")\(Plural.count(s.tenants, "tenant")): \(s.inSync) in sync, "
            + "\(s.drifted) drifted (\(s.missing) missing, \(Plural.count(s.orphans, "orphan row"))), "
            + "\(s.failed) failed"
        let wouldChange = "; \(Plural.count(s.changed, "tenant")) would change"
        switch report.mode {
        case .status: break
        case .markMissing:
            text +=
                report.dryRun
                ? wouldChange
                : "; \(Plural.count(s.marked, "migration")) marked on \(Plural.count(s.changed, "tenant"))"
        case .cleanOrphans:
            text +=
                report.dryRun
                ? wouldChange
                : "; \(Plural.count(s.deleted, "orphan row")) deleted on \(Plural.count(s.changed, "tenant"))"
        case .acceptEdits:
            text +=
                report.dryRun
                ? wouldChange
                : "; new hashes of \(Plural.count(s.accepted, "edited migration")) recorded on "
                    + Plural.count(s.changed, "tenant")
        }
        if s.edited > 0, report.mode != .acceptEdits {
            text += "; \(Plural.count(s.edited, "applied migration")) edited since (see sync --accept-edits)"
        }
        if let reason = report.stopReason { text += " (stopped: \(reason.description))" }
        return text
    }
}
