import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanPostgres
import TenantPlanSpec

/// `tenantplan demo`: the whole workflow on a throwaway local PostgreSQL.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a throwaway PostgreSQL, create tenants, apply plans/demo.yaml, re-run it, and clean up."
    )

    @Option(help: "The demo plan.", completion: .file(extensions: ["yaml"]))
    var plan = "plans/demo.yaml"

    @Option(help: "How many tenants to create.")
    var tenants = 36

    @Option(help: "Write the first run's JSON report to this file.")
    var report: String?

    func validate() throws {
        if tenants < 1 || tenants > 100_000 { throw ValidationError("--tenants must be between 1 and 100000") }
    }

    mutating func run() async throws {
        Console.out("starting a throwaway PostgreSQL cluster...")
        let cluster: EphemeralCluster
        do {
            cluster = try EphemeralCluster.start()
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
        defer {
            cluster.stop()
            Console.out("stopped and removed the cluster at \(cluster.directory)")
        }
        // Ctrl-C, SIGTERM or a closed terminal: the run stops (nothing new starts, running statements
        // roll back) and the cluster is removed on the way out; a second signal removes it at once.
        let control = RunControl()
        let cleanup = SignalCleanup(first: { control.interrupt() }, second: { [cluster] in
            cluster.stop()
            Console.error("\ninterrupted twice: stopped and removed the cluster at \(cluster.directory)")
        })
        defer { cleanup.cancel() }
        Console.out("cluster at \(cluster.directory) (server binaries from \(cluster.binDirectory))")
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = cluster.conninfo
        let compiled: Plan
        do {
            compiled = try PlanCompiler.compile(path: plan, options: CompileOptions(environment: environment))
        } catch {
            for diagnostic in error.diagnostics { Console.error(diagnostic.description) }
            throw ExitCode(2)
        }
        let conninfo = EnvironmentExpander(environment: environment).expand(compiled.database.url).value
        let names = Self.tenantNames(tenants)
        do {
            let session = try await PGSession.open(conninfo)
            let values = names.enumerated().map { "(\(SQL.quoteLiteral($1)), \($0 % 12 != 11))" }.joined(separator: ",")
            try await session.run { connection in
                try connection.exec("CREATE TABLE public.tenants (id text PRIMARY KEY, active boolean NOT NULL DEFAULT true, created_at timestamptz NOT NULL DEFAULT now());INSERT INTO public.tenants (id, active) VALUES \(values)")
            }
        } catch {
            Console.error("error: cannot prepare the demo database: \(error)")
            throw ExitCode(1)
        }
        Console.out("created public.tenants with \(names.count) rows (every 12th inactive)\n")

        for (round, title) in ["first run: everything is pending", "second run: nothing should be pending"].enumerated() {
            Console.out("== \(title)")
            let printer = ProgressPrinter(toStderr: false)
            let runner = PlanRunner(plan: compiled, conninfo: conninfo, options: RunOptions(command: "apply"), control: control,
                                    events: { printer.handle($0) })
            let result = try await runner.apply()
            printer.finish()
            Console.out(ProgressPrinter.summary(result))
            if control.isInterrupted { throw ExitCode(130) }
            if round == 0, let path = report {
                try result.json().write(to: URL(fileURLWithPath: path))
                Console.out("report written to \(path)")
            }
            if result.exitCode != 0 { throw ExitCode(result.exitCode) }
            if round == 1, result.summary.migrationsApplied != 0 {
                Console.error("error: the second run applied \(result.summary.migrationsApplied) migrations; expected none")
                throw ExitCode(1)
            }
            Console.out("")
        }
        Console.out("== status")
        let status = try await PlanRunner(plan: compiled, conninfo: conninfo, options: RunOptions(command: "status")).status()
        Console.out(Status.table(status).split(separator: "\n").prefix(6).joined(separator: "\n"))
        Console.out("... (\(status.tenants.count) tenants)")
        Console.out(String(Status.table(status).split(separator: "\n").last ?? ""))
        if control.isInterrupted { throw ExitCode(130) }
    }

    static func tenantNames(_ count: Int) -> [String] {
        let words = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "cyberdyne", "soylent",
                     "tyrell", "oscorp", "vandelay", "monarch", "gringotts", "aperture", "massive", "dunder"]
        return (0..<count).map { index in
            index < words.count ? words[index] : "\(words[index % words.count])\(index / words.count + 1)"
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP runs `first`; on a second signal runs `second` and exits 130.
final class SignalCleanup: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var count = 0

    init(first: @escaping @Sendable () -> Void, second: @escaping @Sendable () -> Void) {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.count += 1
                let current = self.count
                self.lock.unlock()
                if current == 1 {
                    Console.error("\ninterrupting: no new tenants start, running statements roll back, then the cluster is removed (again to stop at once)")
                    first()
                } else {
                    second()
                    exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
