import ArgumentParser
import Foundation
import Logging
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

/// `tenantplan apply PLAN`: run every action on every tenant.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the plan: run pending migrations and scripts on every tenant.",
        discussion: """
            Discovers tenants, reads their tracking tables in batches, then runs the execution graph with \
            bounded concurrency. Writes a JSON report with --report or --json.
            """
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var run: RunFlags
    @OptionGroup var ephemeral: EphemeralOptions

    @Flag(help: "Connect and read, write nothing: print what would run on each tenant.")
    var dryRun = false

    @Flag(
        help: """
            Record pending migrations as applied without running them (for schemas changed by hand or another tool).
            """)
    var markApplied = false

    @Option(
        help: ArgumentHelp(
            """
            With --mark-applied: mark up to and including this migration in the action that holds it, and nothing \
            in the actions after it.
            """, valueName: "name"))
    var upTo: String?

    func validate() throws {
        if upTo != nil, !markApplied { throw ValidationError("--up-to needs --mark-applied") }
    }

    mutating func run() async throws {
        let options = RunOptions(
            command: "apply", dryRun: dryRun, filter: selection.filter, markApplied: markApplied, upTo: upTo)
        let report = try await run.execute(plan: planArgument.plan, options: options, ephemeral: ephemeral)
        throw ExitCode(report.exitCode)
    }
}

/// `tenantplan plan PLAN`: what `apply` would do, for reviews.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what `apply` would do (read only: connects and reads, writes nothing).",
        discussion: """
            Tenants that would get the same changes are grouped; shared actions come first, totals last. The \
            same database state and files give the same bytes (no times, everything sorted), so a pull-request \
            comment changes only when the plan does. Progress goes to stderr.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, markdown, json
    }

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var run: RunFlags
    @OptionGroup var ephemeral: EphemeralOptions

    @Option(
        help: ArgumentHelp(
            "text; markdown (for a pull-request comment); json (docs/schemas/plan-output-v1.json).",
            valueName: "text|markdown|json"))
    var format: Format = .text

    @Option(help: "Write the plan output to this file instead of stdout.", completion: .file())
    var out: String?

    @Flag(help: "With markdown or json: include each pending migration's SQL.")
    var sql = false

    @Flag(help: "Exit 3 when changes are pending (0 when none, 1 on errors, 2 for an invalid plan).")
    var detailedExitcode = false

    @Flag(
        help: """
            Also apply the pending changes for real on a throwaway PostgreSQL, to copies (pg_dump) of one tenant \
            per group and the shared schemas: did it work, how long, what changed. The database is only read.
            """)
    var rehearse = false

    @Flag(
        help: "Add a schema-drift section: tenants at one applied state whose schemas differ (as `tenantplan drift`).")
    var drift = false

    @Option(help: "With --rehearse: copy this many tenants, spread over those with changes, instead of one per group.")
    var sample: Int?

    @Flag(help: "With --rehearse: copy the tenants' data too (default: schema only, and the tracking rows).")
    var withData = false

    func validate() throws {
        if sample != nil || withData, !rehearse { throw ValidationError("--sample and --with-data need --rehearse") }
        if let sample, sample < 1 { throw ValidationError("--sample must be at least 1") }
        if run.json, out == nil {
            throw ValidationError("--json prints the report on stdout: write the plan with --out")
        }
    }

    mutating func run() async throws {
        let options = RunOptions(command: "plan", dryRun: true, filter: selection.filter)
        run.configureLogging()
        let (printer, ticker) = run.printer(toStderr: true, dryRun: true)
        defer { ticker.cancel() }
        let metrics = RunMetrics(perTenant: run.perTenantMetrics)
        let (report, review) = try await CommandRun.with(
            plan: planArgument.plan, overrides: run.overrides, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed,
            options: options,
            events: {
                printer.handle($0)
                metrics.record($0)
            },
            { runner, setup in
                let report = try await runner.apply()
                var review = PlanReview(report: report, plan: runner.plan, includeSQL: sql)
                if drift, report.error == nil { review.drift = try await runner.drift() }
                if rehearse, report.error == nil {
                    Console.error("rehearsing on a throwaway PostgreSQL cluster...")
                    review.rehearsal = await Rehearsal.run(
                        plan: runner.plan, conninfo: setup.conninfo, review: review, report: report,
                        options: .init(sample: sample, withData: withData))
                }
                return (report, review)
            })
        printer.finish()
        if let fatal = RunText.fatal(report) { Console.error(fatal) }
        let text: Data
        switch format {
        case .text: text = Data(PlanText.text(review).utf8)
        case .markdown: text = Data(PlanText.markdown(review).utf8)
        case .json: text = try review.json()
        }
        if let out {
            do {
                try text.write(to: URL(fileURLWithPath: out))
            } catch {
                throw TenantPlanError.failed("cannot write the plan to \(out): \(error.localizedDescription)")
            }
        } else {
            FileHandle.standardOutput.write(text)
        }
        try run.writeReport(report, metrics: metrics)
        var code = report.exitCode
        if let rehearsal = review.rehearsal,
            rehearsal.error != nil || rehearsal.tenants.contains(where: { $0.status == .failed })
                || rehearsal.shared.contains(where: { $0.status == .failed })
        {
            code = 1  // the changes failed where they were tried for real
        }
        if code == 0, detailedExitcode, review.hasChanges { code = 3 }
        throw ExitCode(code)
    }
}

/// Flags shared by `apply` and `plan`, and what both do with them.
struct RunFlags: ParsableArguments {
    @Option(help: "Tenants in flight at once (overrides the plan; at most database.maxConnections).")
    var concurrency: Int?

    @Option(help: "continue: other tenants go on after a failure; abort: start nothing new (overrides the plan).")
    var onError: OnError?

    @Option(help: "With continue: stop starting tenants once this many failed (0 = no limit; overrides the plan).")
    var maxFailures: Int?

    @Option(
        help: ArgumentHelp(
            "refuse: a pending migration sorting before a tenant's latest applied one fails that tenant; allow: it "
                + "runs (overrides the plan's outOfOrder).", valueName: "refuse|allow"))
    var outOfOrder: OutOfOrder?

    @Option(help: "Write the JSON report to this file.", completion: .file())
    var report: String?

    @Flag(help: "Print the JSON report to stdout (human output goes to stderr).")
    var json = false

    @Option(
        help: ArgumentHelp(
            "Write the run's Prometheus metrics (text format) to this file at the end, atomically (for "
                + "node_exporter's textfile collector).", valueName: "file"), completion: .file())
    var metricsFile: String?

    @Flag(
        help: """
            List every tenant as it finishes (also with --log-level debug); without a terminal the default is failures \
            and a progress line.
            """)
    var verbose = false

    @Flag(help: "Print only failures and the summary.")
    var quiet = false

    @Option(
        help: ArgumentHelp(
            "Without a terminal: a progress line this often, e.g. 5s; a tenant running six times as long says so.",
            valueName: "duration"))
    var progressEvery: PlanDuration = .milliseconds(5000)

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(
        help: ArgumentHelp(
            "Log level: trace, debug, info (default), warning, error. Logs go to stderr.",
            valueName: "level"))
    var logLevel: LogLevel = .info

    @Option(
        help: ArgumentHelp(
            "text, or json: every line on stderr a JSON object (logs, progress and summary).",
            valueName: "text|json"))
    var logFormat: LogFormat = .text

    @Option(
        help: ArgumentHelp(
            "Log a SLOW_QUERY warning for a statement slower than this (overrides debug.slowQueryThreshold; 0: never).",
            valueName: "duration"))
    var slowQuery: PlanDuration?

    /// `--log-level` and `--log-format`, for the rest of the process.
    func configureLogging() {
        StderrLogHandler.level = logLevel.level
        Console.jsonLines = logFormat == .json
    }

    @Flag(help: "With --metrics-file: also a per-tenant series of pending migrations (one series per tenant).")
    var perTenantMetrics = false

    func validate() throws {
        if perTenantMetrics, metricsFile == nil { throw ValidationError("--per-tenant-metrics needs --metrics-file") }
        if verbose, quiet { throw ValidationError("--verbose and --quiet do not go together") }
        if progressEvery.milliseconds < 100 { throw ValidationError("--progress-every must be at least 100ms") }
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let maxFailures, maxFailures < 0 { throw ValidationError("--max-failures must be 0 or more") }
    }

    /// The printer for these flags, and a task ticking it every 100 ms until cancelled.
    func printer(toStderr: Bool, dryRun: Bool) -> (ProgressPrinter, Task<Void, Never>) {
        let printer = ProgressPrinter(
            toStderr: toStderr, dryRun: dryRun,
            verbosity: verbose || [.trace, .debug].contains(logLevel) ? .verbose : quiet ? .quiet : .normal,
            interval: Double(progressEvery.milliseconds) / 1000)
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                printer.tick()
            }
        }
        return (printer, ticker)
    }

    var overrides: RunOverrides {
        var overrides = RunOverrides(
            concurrency: concurrency, onError: onError, maxFailures: maxFailures, outOfOrder: outOfOrder)
        overrides.slowQuery = slowQuery
        return overrides
    }

    /// Runs, prints progress and the outcome, writes the report.
    func execute(plan path: String, options: RunOptions, ephemeral: EphemeralOptions) async throws -> Report {
        configureLogging()
        // With JSON logs, every human line goes to stderr too, as a JSON object.
        let (printer, ticker) = self.printer(toStderr: json || logFormat == .json, dryRun: options.dryRun)
        defer { ticker.cancel() }
        let metrics = RunMetrics(perTenant: perTenantMetrics)
        let report = try await CommandRun.with(
            plan: path, overrides: overrides, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options,
            events: {
                printer.handle($0)
                metrics.record($0)
            },
            { runner, _ in try await runner.apply() })
        printer.finish()
        try show(report)
        try writeReport(report, metrics: metrics)
        return report
    }

    /// `--report FILE`, and `--metrics-file FILE` (written to a temporary file, then renamed).
    func writeReport(_ report: Report, metrics: RunMetrics) throws {
        if let path = metricsFile {
            do {
                try Data(metrics.text(for: report).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw TenantPlanError.failed("cannot write metrics to \(path): \(error.localizedDescription)")
            }
        }
        if let path = self.report {
            do {
                try report.json().write(to: URL(fileURLWithPath: path))
            } catch {
                throw TenantPlanError.failed("cannot write report to \(path): \(error.localizedDescription)")
            }
        }
    }

    /// The dry-run listing and the summary; a run that failed as a whole prints its error alone, on stderr.
    private func show(_ report: Report) throws {
        let human: (String) -> Void = json || logFormat == .json ? { Console.error($0) } : { Console.out($0) }
        if let fatal = RunText.fatal(report) {
            Console.error(fatal)
        } else {
            if report.options.dryRun { DryRunText.lines(report).forEach(human) }
            let groups = RunText.failureGroups(report)
            if !groups.isEmpty {
                human("failed the same way:")
                for group in groups { human("  " + group) }
            }
            human(RunText.summary(report))
        }
        if json {
            Console.write(try report.json(), to: .standardOutput)
            Console.out("")
        }
    }
}
