import Foundation

/// A throwaway PostgreSQL cluster in a temporary folder, started from the installed server
/// binaries, reachable only over a Unix socket in that folder. Used by `tenantplan demo`
/// and the integration tests. Runs the server as `postgres` when we are root (initdb refuses root).
public final class EphemeralCluster: @unchecked Sendable {
    public let directory: String
    public let binDirectory: String
    private let asPostgresUser: Bool
    private var running = false
    /// The server's options (`pg_ctl -o`), kept for `startAgain`.
    private var serverOptions = ""
    private let lock = NSLock()

    /// libpq conninfo for the cluster's `postgres` database.
    public var conninfo: String { conninfo(database: "postgres") }

    public func conninfo(database: String) -> String {
        "host=\(directory) port=5432 user=postgres dbname=\(database)"
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Finds the server binaries: `$TENANTPLAN_PG_BINDIR`, the newest /usr/lib/postgresql/N/bin, or
    /// `pg_config --bindir`.
    public static func findBinDirectory() throws -> String {
        let fileManager = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["TENANTPLAN_PG_BINDIR"], !explicit.isEmpty {
            return explicit
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        if let output = try? run("/usr/bin/env", ["pg_config", "--bindir"]),
            fileManager.isExecutableFile(atPath: output + "/initdb")
        {
            return output
        }
        throw Failure(
            description:
                "no PostgreSQL server binaries found (initdb); install the Debian package `postgresql` "
                + "or set TENANTPLAN_PG_BINDIR"
        )
    }

    /// Creates and starts a new cluster.
    public static func start(maxConnections: Int = 200) throws -> EphemeralCluster {
        let binDirectory = try findBinDirectory()
        var template = Array("/tmp/tenantplan-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Failure(description: "cannot create a temporary folder") }
        let directory = String(cString: made)
        let asPostgres = geteuid() == 0
        let cluster = EphemeralCluster(directory: directory, binDirectory: binDirectory, asPostgresUser: asPostgres)
        Registry.shared.add(cluster)
        do {
            if asPostgres { _ = try run("/bin/chown", ["postgres:postgres", directory]) }
            try cluster.server(
                "initdb",
                [
                    "-D", directory + "/data", "-U", "postgres", "--auth=trust", "--no-sync",
                    "-E", "UTF8", "--locale=C",
                ])
            let options =
                "-F -k \(directory) -p 5432 -c listen_addresses= -c max_connections=\(maxConnections) "
                + "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            cluster.serverOptions = options
            try cluster.startAgain()
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(directory: String, binDirectory: String, asPostgresUser: Bool) {
        self.directory = directory
        self.binDirectory = binDirectory
        self.asPostgresUser = asPostgresUser
    }

    deinit {
        stop()
    }

    private func server(_ tool: String, _ arguments: [String]) throws {
        let path = "\(binDirectory)/\(tool)"
        if asPostgresUser {
            _ = try Self.run("/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        } else {
            _ = try Self.run(path, arguments)
        }
    }

    /// Restarts the server (fast shutdown: open sessions are terminated, their transactions roll
    /// back), with the options it was started with: for fault tests.
    public func restart() throws {
        try server("pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "60", "restart"])
    }

    /// Starts the server (again, after `shutDown`) with the options it was created with.
    public func startAgain() throws {
        try server(
            "pg_ctl",
            [
                "-D", directory + "/data", "-o", serverOptions, "-l", directory + "/server.log", "-w", "-t", "60",
                "start",
            ])
        lock.lock()
        running = true
        lock.unlock()
    }

    /// Shuts the server down (fast) and leaves it down; the folder stays until `stop()`: for fault tests.
    public func shutDown() throws {
        try server("pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Stops the server (fast shutdown) and removes the folder. Safe to call twice.
    public func stop() {
        lock.lock()
        let wasRunning = running
        running = false
        lock.unlock()
        // Also while it was starting (a server may be up before pg_ctl returns).
        if wasRunning || FileManager.default.fileExists(atPath: directory + "/data/postmaster.pid") {
            try? server("pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "60", "stop"])
        }
        try? FileManager.default.removeItem(atPath: directory)
        Registry.shared.remove(self)
    }

    /// Stops every cluster this process started and has not stopped yet, even one still
    /// starting: for a second Ctrl-C, which exits at once.
    public static func stopAll() {
        for cluster in Registry.shared.all() { cluster.stop() }
    }

    /// The clusters started and not stopped yet.
    private final class Registry: @unchecked Sendable {
        static let shared = Registry()
        private let lock = NSLock()
        private var clusters: [ObjectIdentifier: EphemeralCluster] = [:]

        func add(_ cluster: EphemeralCluster) {
            lock.lock()
            defer { lock.unlock() }
            clusters[ObjectIdentifier(cluster)] = cluster
        }

        func remove(_ cluster: EphemeralCluster) {
            lock.lock()
            defer { lock.unlock() }
            clusters[ObjectIdentifier(cluster)] = nil
        }

        func all() -> [EphemeralCluster] {
            lock.lock()
            defer { lock.unlock() }
            return Array(clusters.values)
        }
    }

    /// Runs one of the server's client tools (`pg_dump`, `psql`) from `findBinDirectory()` to
    /// completion; its output, or a failure with its last lines.
    @discardableResult
    public func tool(_ name: String, _ arguments: [String]) throws -> String {
        try Self.run(binDirectory + "/" + name, arguments)
    }

    /// Runs a program to completion. Output goes to a temporary file, not a pipe: a server
    /// started by `pg_ctl` would inherit a pipe and keep it open.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "tenantplan-run-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try Spawn.start(executable, arguments, outputPath: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").trimmingCharacters(
            in: .whitespacesAndNewlines)
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            throw Failure(
                description:
                    "\((executable as NSString).lastPathComponent) \(arguments.first ?? "") failed "
                    + "(\(exited ? "exit \(code)" : "signal \(status & 0x7f)")): \(text.suffix(2000))"
            )
        }
        return text
    }
}
