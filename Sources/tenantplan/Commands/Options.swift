import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanPostgres
import TenantPlanSpec

/// The plan file argument, shared by every subcommand that reads a plan.
struct PlanArgument: ParsableArguments {
    @Argument(help: "Path of the plan file (YAML).", completion: .file(extensions: ["yaml", "yml"]))
    var plan: String
}

/// `--tenant` / `--exclude`, shared by the commands that run over tenants.
struct TenantSelection: ParsableArguments {
    @Option(name: .customLong("tenant"), help: ArgumentHelp("Only this tenant id (repeatable); each must be discovered.", valueName: "id"))
    var tenants: [String] = []

    @Option(name: .customLong("exclude"), help: ArgumentHelp("Drop tenants whose id matches this glob (repeatable).", valueName: "glob"))
    var excludes: [String] = []

    var filter: TenantFilter { TenantFilter(only: tenants, exclude: excludes) }
}

/// Compiling a plan for a command that connects, and turning failures into exit code 2.
enum PlanLoading {
    static func compile(_ path: String, concurrency: Int? = nil) throws -> Plan {
        do {
            let plan = try PlanCompiler.compile(path: path, options: CompileOptions(concurrencyOverride: concurrency))
            for warning in plan.warnings { Console.error(warning.description) }
            return plan
        } catch {
            for diagnostic in error.diagnostics { Console.error(diagnostic.description) }
            throw ExitCode(2)
        }
    }

    /// `database.url` with `${VAR}` expanded, checked by libpq's parser (never echoing a password).
    static func conninfo(for plan: Plan) throws -> String {
        let expanded = EnvironmentExpander(environment: ProcessInfo.processInfo.environment).expand(plan.database.url).value
        if case .failure(let error) = ConnInfo.parse(expanded) {
            Console.error("\(plan.database.urlLocation): error: \(error.message)")
            throw ExitCode(2)
        }
        return expanded
    }
}

/// What the commands that connect share: a compiled plan, a runner, Ctrl-C handling, and
/// library errors mapped to the contract's exit codes.
struct ConnectedCommand {
    let plan: Plan
    let runner: PlanRunner
    let interrupts: InterruptHandler

    init(planPath: String, options: RunOptions, concurrency: Int? = nil, adjust: (inout Plan) -> Void = { _ in },
         events: @escaping @Sendable (RunEvent) -> Void = { _ in }) throws {
        var plan = try PlanLoading.compile(planPath, concurrency: concurrency)
        adjust(&plan)
        let conninfo = try PlanLoading.conninfo(for: plan)
        let control = RunControl()
        self.plan = plan
        self.interrupts = InterruptHandler(control: control)
        self.runner = PlanRunner(plan: plan, conninfo: conninfo, options: options, control: control, events: events)
    }

    /// Runs `body`; an invalid command line (unknown --tenant or --up-to, a refused confirmation)
    /// exits 2, any other failure prints it and exits 1.
    func run<T>(_ body: (PlanRunner) async throws -> T) async throws -> T {
        defer { interrupts.cancel() }
        do {
            return try await body(runner)
        } catch let error as ExitCode {
            throw error
        } catch let error as UnknownTenantsError {
            Console.error("error: \(error)")
            throw ExitCode(2)
        } catch let error as UnknownMigrationError {
            Console.error("error: \(error)")
            throw ExitCode(2)
        } catch let error as SyncNotConfirmed {
            Console.error("error: \(error)")
            throw ExitCode(2)
        } catch let error as ConversionTargetConflict {
            Console.error("error: \(error)")
            throw ExitCode(2)
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Writes to stdout / stderr without buffering surprises.
enum Console {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}

/// Installs SIGINT/SIGTERM handling for a run: the first signal stops the run gracefully
/// (nothing new starts, running statements are canceled and roll back), the second exits at once.
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private var count = 0
    private let lock = NSLock()

    init(control: RunControl) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in self?.handle(control) }
            source.resume()
            sources.append(source)
        }
    }

    private func handle(_ control: RunControl) {
        lock.lock()
        count += 1
        let current = count
        lock.unlock()
        if current == 1 {
            Console.error("\ninterrupting: no new tenants start, running statements are canceled and roll back (press Ctrl-C again to exit at once)")
            control.interrupt()
        } else {
            exit(130)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
