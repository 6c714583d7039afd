import Foundation
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec
import Testing

/// Human output is a pure function of a report: each renderer against a golden file, from reports
/// recorded by scripts/record-output-fixtures.sh (times and paths normalised). Set
/// TENANTPLAN_RECORD_GOLDEN=1 to rewrite the golden files, then review the diff.
@Suite struct OutputGoldenTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: fixtures.appendingPathComponent(name + ".json")))
    }

    /// Compares `text` with `<name>.txt` (or writes it in record mode).
    static func check(_ text: String, golden name: String) throws {
        let url = fixtures.appendingPathComponent(name + ".txt")
        if ProcessInfo.processInfo.environment["TENANTPLAN_RECORD_GOLDEN"] == "1" {
            try (text + "\n").write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(
            text + "\n" == expected, "\(name).txt differs; rerun with TENANTPLAN_RECORD_GOLDEN=1 and review the diff")
    }

    /// What `apply` prints to a log (not a terminal): shared actions, each tenant that changed or failed, the summary.
    static func applyLog(_ report: Report) -> String {
        let shared = report.sharedActions.map { RunText.shared($0, dryRun: report.options.dryRun) }
        let tenants = report.tenants.filter { !$0.unchanged }.map { RunText.tenant($0, dryRun: false) }
        return (shared + tenants + [RunText.summary(report)]).joined(separator: "\n")
    }

    @Test("apply: a tenant that fails shows its migration, SQLSTATE and message; the summary counts it")
    func apply() throws {
        let report = try Self.decode(Report.self, "apply")
        try Self.check(Self.applyLog(report), golden: "apply")
    }

    @Test("plan: each tenant's pending changes, then groups naming their tenants, then a dry-run summary")
    func plan() throws {
        let report = try Self.decode(Report.self, "plan")
        let text = (DryRunText.lines(report) + [RunText.summary(report)]).joined(separator: "\n")
        #expect(!text.contains("succeeded"))
        try Self.check(text, golden: "plan")
    }

    @Test("status: a table of every tenant with the totals")
    func status() throws {
        try Self.check(StatusText.table(try Self.decode(StatusReport.self, "status")), golden: "status")
    }

    @Test("sync --status: tenants grouped by drift, likely renames, totals")
    func sync() throws {
        try Self.check(SyncText.text(try Self.decode(SyncReport.self, "sync")), golden: "sync")
    }

    @Test("convert-tracking --dry-run: tenants to convert in words, a refused one with its reason")
    func convert() throws {
        let text = ConvertText.text(try Self.decode(ConvertReport.self, "convert"))
        #expect(!text.contains("wouldConvert"))
        try Self.check(text, golden: "convert")
    }

    @Test("failed tenants sharing a failure are grouped, largest group first, naming five tenants")
    func failureGroups() throws {
        var report = try Self.decode(Report.self, "apply")
        let failed = try #require(report.tenants.first { $0.status == .failed })
        let key = try #require(RunText.failureKey(failed))
        #expect(RunText.failureGroups(report).isEmpty)
        for index in 0..<7 {
            var copy = failed
            copy.id = "copy\(index)"
            report.tenants.append(copy)
        }
        var other = failed
        other.id = "other"
        other.error = Report.ErrorInfo(sqlstate: "08006", message: "server closed the connection unexpectedly")
        report.tenants += [other, other]
        #expect(
            RunText.failureGroups(report) == [
                "8 tenants: \(key) (\(failed.id), copy0, copy1, copy2, copy3, … and 3 more)",
                "2 tenants: 08006 server closed the connection unexpectedly (other, other)",
            ])
        #expect(
            RunText.retrying(
                tenant: "acme", schema: "tenant_acme", attempt: 1, of: 3, delayMs: 87,
                error: Report.ErrorInfo(migration: "0002_x", sqlstate: "57P01", message: "terminating connection"))
                == "retry acme (tenant_acme): attempt 1 of 3 failed: at 0002_x: terminating connection "
                + "(SQLSTATE 57P01); attempt 2 in 87 ms")
        let holder =
            "tenant:tenant_acme is locked by another run (pid 42, application_name tenantplan, "
            + "since 2026-11-29T16:40:01Z)"
        #expect(
            RunText.waitingForLock(tenant: "acme", schema: "tenant_acme", holder: holder, lockWaitMs: 30000)
                == "wait acme (tenant_acme): \(holder); waiting up to 30s (database.lockWait)")
        #expect(
            RunText.waitingForLock(tenant: "acme", schema: "tenant_acme", holder: holder, lockWaitMs: 0)
                .hasSuffix("; waiting for it (database.lockWait: no bound)"))
        report.summary.retries = 2
        #expect(RunText.summary(report).contains(", 2 retries in "))
        report.stopReason = .identicalFailures
        report.stopDetail = "0002_bad failed the same way on 3 tenants"
        #expect(RunText.summary(report).hasSuffix("(stopped: 0002_bad failed the same way on 3 tenants)"))
    }

    @Test("a run that failed as a whole prints its error alone; stop reasons are words, not identifiers")
    func fatalAndStops() throws {
        var report = try Self.decode(Report.self, "apply")
        #expect(RunText.fatal(report) == nil)
        report.stopReason = .abortOnError
        #expect(RunText.summary(report).hasSuffix("(stopped: onError is abort and something failed)"))
        report.error = Report.ErrorInfo(
            sqlstate: "42P01",
            message: "plans/prod.yaml:9:5: tenants.discover.sql: relation \"public.tenant\" does not exist")
        #expect(
            RunText.fatal(report)
                == "error: plans/prod.yaml:9:5: tenants.discover.sql: relation \"public.tenant\" does not exist "
                + "(SQLSTATE 42P01)"
        )
    }

    @Test("discovery counts say what each filter kept")
    func discovered() {
        #expect(
            RunText.discovered(DiscoveryCounts(discovered: 19, afterPlanFilters: 19, selected: 1))
                == "discovered 19 tenants, 1 after --tenant/--exclude")
        #expect(
            RunText.discovered(DiscoveryCounts(discovered: 1, afterPlanFilters: 1, selected: 1))
                == "discovered 1 tenant")
        #expect(
            RunText.discovered(DiscoveryCounts(discovered: 20, afterPlanFilters: 18, selected: 18))
                == "discovered 20 tenants, 18 after the plan's include/exclude")
    }
}

/// `tenantplan graph`: golden files for the demo plan and the compiler's full fixture, and dot
/// output that Graphviz itself accepts.
@Suite struct GraphGoldenTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func document(_ relative: String) throws -> GraphDocument {
        let plan = try PlanCompiler.compile(
            path: root.appendingPathComponent(relative).path, options: CompileOptions(unsetVariablesAreErrors: false))
        return GraphDocument(plan: plan, planPath: relative)
    }

    @Test(
        "graph: mermaid, dot and json of the demo plan and a plan with shared actions after tenant ones",
        arguments: ["plans/demo.yaml", "Tests/TenantPlanSpecTests/Fixtures/valid/full.yaml"])
    func golden(_ relative: String) throws {
        let document = try Self.document(relative)
        let name = "graph-" + ((relative as NSString).lastPathComponent as NSString).deletingPathExtension
        try OutputGoldenTests.check(String(document.mermaid().dropLast()), golden: name + ".mmd")
        try OutputGoldenTests.check(String(document.dot().dropLast()), golden: name + ".dot")
        try OutputGoldenTests.check(
            String(decoding: try document.json().dropLast(), as: UTF8.self), golden: name + ".json")
    }

    @Test("graph: Graphviz (dot -Tsvg) reads the dot output")
    func graphvizAccepts() throws {
        for relative in ["plans/demo.yaml", "Tests/TenantPlanSpecTests/Fixtures/valid/full.yaml"] {
            let input = Pipe()
            let output = Pipe()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dot")
            process.arguments = ["-Tsvg"]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            try process.run()
            input.fileHandleForWriting.write(Data(try Self.document(relative).dot().utf8))
            try input.fileHandleForWriting.close()
            let svg = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "dot refused the graph of \(relative): \(svg.prefix(500))")
            #expect(svg.contains("<svg"))
        }
    }
}
