import TenantPlanPostgres
import TenantPlanSpec

/// The report of `tenantplan convert-tracking`.
public struct ConvertReport: Codable, Sendable {
    public var reportVersion = 1
    public var command = "convert-tracking"
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var to: TrackingFormat
    public var from: TrackingFormat?
    public var dryRun: Bool
    public var startedAt: String
    public var durationMs: Int
    public var stopReason: SlidingWindow.StopReason?
    public var summary: Summary
    public var tenants: [Tenant]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        /// Tenants with at least one table converted (or, in a dry run, to convert).
        public var converted = 0
        public var alreadyInTarget = 0
        /// Tenants with no tracking table yet (nothing to convert).
        public var withoutTable = 0
        /// Tenants whose tables are in a format other than --from.
        public var otherFormat = 0
        public var failed = 0
        public var skipped = 0
        public var rowsConverted = 0
    }

    public struct Tenant: Codable, Sendable {
        public enum Status: String, Codable, Sendable {
            case converted, wouldConvert, alreadyInTarget, withoutTable, otherFormat, failed, skipped
        }

        public var id: String
        public var schema: String
        public var status: Status
        public var conversions: [TrackingConverter.Conversion]
        public var error: Report.ErrorInfo?
    }

    public var exitCode: Int32 {
        if stopReason == .interrupted { return 130 }
        return summary.failed > 0 ? 1 : 0
    }

    /// Fills `summary` from the tenants.
    mutating func summarize() {
        var summary = Summary()
        summary.tenants = tenants.count
        for entry in tenants {
            switch entry.status {
            case .converted, .wouldConvert:
                summary.converted += 1
                summary.rowsConverted += entry.conversions.reduce(0) { $0 + $1.rows.count }
            case .alreadyInTarget: summary.alreadyInTarget += 1
            case .withoutTable: summary.withoutTable += 1
            case .otherFormat: summary.otherFormat += 1
            case .failed: summary.failed += 1
            case .skipped: summary.skipped += 1
            }
        }
        self.summary = summary
    }
}
