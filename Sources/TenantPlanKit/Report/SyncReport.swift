import TenantPlanPostgres
import TenantPlanSpec

/// The report of `tenantplan sync`.
public struct SyncReport: Codable, Sendable {
    public enum Mode: String, Codable, Sendable {
        case status, markMissing, cleanOrphans, acceptEdits
    }

    public var reportVersion = 1
    public var command = "sync"
    public var mode: Mode
    public var dryRun: Bool
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var startedAt: String
    public var durationMs: Int
    public var stopReason: SlidingWindow.StopReason?
    public var summary: Summary
    /// Tenants in the same state, listed once (5,000 identical tenants are one group).
    public var groups: [Group]
    public var tenants: [Tenant]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        public var inSync = 0
        public var drifted = 0
        /// Tenants changed (or, in a dry run, to change) by --mark-missing / --clean-orphans.
        public var changed = 0
        public var failed = 0
        public var skipped = 0
        public var missing = 0
        public var orphans = 0
        public var marked = 0
        public var deleted = 0
        /// Applied migrations found edited, and (with --accept-edits) those whose new hash was recorded.
        public var edited = 0
        public var accepted = 0
    }

    public struct Group: Codable, Sendable {
        public var count: Int
        /// Up to 10 tenant ids of the group.
        public var sample: [String]
        public var drift: Drift
    }

    public struct Tenant: Codable, Sendable {
        public enum Status: String, Codable, Sendable {
            case inSync, drifted, changed, wouldChange, failed, skipped
        }

        public var id: String
        public var schema: String
        public var format: TrackingFormat?
        public var status: Status
        public var drift: Drift
        public var marked: [String]?
        public var deleted: [String]?
        /// Edited migrations whose new hash was recorded (--accept-edits).
        public var accepted: [String]?
        public var error: Report.ErrorInfo?
    }

    /// `--status` exits 0 when every tenant could be read, whatever drift it found.
    public var exitCode: Int32 {
        if stopReason == .interrupted { return 130 }
        return summary.failed > 0 ? 1 : 0
    }

    /// Fills `summary` and `groups` from the tenants: tenants in the same state are one group,
    /// largest first.
    mutating func summarize() {
        var summary = Summary()
        summary.tenants = tenants.count
        var groups: [Drift: (count: Int, sample: [String])] = [:]
        var order: [Drift] = []
        for entry in tenants {
            switch entry.status {
            case .inSync: summary.inSync += 1
            case .drifted: summary.drifted += 1
            case .changed, .wouldChange:
                summary.drifted += 1
                summary.changed += 1
            case .failed: summary.failed += 1
            case .skipped: summary.skipped += 1
            }
            summary.missing += entry.drift.missing.count
            summary.orphans += entry.drift.orphans.count
            summary.marked += entry.marked?.count ?? 0
            summary.deleted += entry.deleted?.count ?? 0
            summary.edited += entry.drift.edited.count
            summary.accepted += entry.accepted?.count ?? 0
            guard entry.status != .inSync, entry.status != .failed else { continue }
            if groups[entry.drift] == nil {
                order.append(entry.drift)
                groups[entry.drift] = (0, [])
            }
            groups[entry.drift]!.count += 1
            if groups[entry.drift]!.sample.count < 10 { groups[entry.drift]!.sample.append(entry.id) }
        }
        self.groups = order.map { Group(count: groups[$0]!.count, sample: groups[$0]!.sample, drift: $0) }
            .sorted { $0.count > $1.count }
        self.summary = summary
    }
}
