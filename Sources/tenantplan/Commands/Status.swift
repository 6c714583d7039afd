import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan status PLAN`: applied, pending and orphaned migrations per tenant.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each tenant's schema, tracking format, applied, pending and orphaned migrations."
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection

    @Flag(help: "Print the status as JSON.")
    var json = false

    mutating func run() async throws {
        let connected = try ConnectedCommand(planPath: planArgument.plan, options: RunOptions(command: "status", filter: selection.filter))
        let report = try await connected.run { try await $0.status() }
        if json {
            try JSONOutput.print(report)
        } else {
            Console.out(Self.table(report))
        }
        if report.summary.errors > 0 { throw ExitCode(1) }
    }

    static func table(_ report: StatusReport) -> String {
        let header = ["TENANT", "SCHEMA", "FORMAT", "APPLIED", "PENDING", "ORPHANED", "LAST APPLIED"]
        func row(_ entry: StatusReport.Entry) -> [String] {
            var last = entry.lastApplied.map { name in name + (entry.lastAppliedAt.map { " at \($0)" } ?? "") } ?? "-"
            if let error = entry.error { last = "error: \(error)" } else if !entry.schemaExists { last = "schema missing" }
            return [entry.id, entry.schema, entry.format?.rawValue ?? "-", "\(entry.applied)", "\(entry.pending.count)", "\(entry.orphaned.count)", last]
        }
        var rows = [header]
        rows += report.sharedActions.map { entry in var r = row(entry); r[0] = "[shared] " + r[0]; return r }
        rows += report.tenants.map(row)
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { $1.padding(toLength: $0 == row.count - 1 ? $1.count : widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        let s = report.summary
        lines.append("\(Plural.count(s.tenants, "tenant")): \(s.upToDate) up to date, \(s.withPending) with pending migrations (\(s.pendingMigrations) in all), \(s.missingSchema) without schema, \(s.withOrphans) with orphaned rows, \(s.errors) errors")
        return lines.joined(separator: "\n")
    }
}
