import Foundation

/// A throwaway PgBouncer in front of an `EphemeralCluster`, in a temporary folder, reachable only
/// over a Unix socket there: for the tests and the benchmark of `database.pooler: transaction`.
/// Runs as `postgres` when we are root (PgBouncer refuses root).
public final class EphemeralPgBouncer: @unchecked Sendable {
    public let directory: String
    public let port = 6432
    private let asPostgresUser: Bool
    private let lock = NSLock()
    private var stopped = false

    /// libpq conninfo for `database` through the pooler.
    public func conninfo(database: String) -> String {
        "host=\(directory) port=\(port) user=postgres dbname=\(database)"
    }

    /// Starts PgBouncer in `poolMode` (`transaction`, `session`) with `poolSize` server connections
    /// per database; `settings` are more `[pgbouncer]` lines (`key = value`).
    public static func start(
        before cluster: EphemeralCluster, poolMode: String = "transaction", poolSize: Int = 20,
        settings: [String] = []
    ) throws -> EphemeralPgBouncer {
        guard
            let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].first(
                where: FileManager.default.isExecutableFile)
        else {
            throw EphemeralCluster.Failure(description: "pgbouncer is not installed (Debian package `pgbouncer`)")
        }
        var template = Array("/tmp/tenantplan-pgb-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw EphemeralCluster.Failure(description: "cannot create a temporary folder")
        }
        let bouncer = EphemeralPgBouncer(directory: String(cString: made), asPostgresUser: geteuid() == 0)
        do {
            let lines = [
                "[databases]", "* = host=\(cluster.directory) port=5432", "[pgbouncer]",
                "unix_socket_dir = \(bouncer.directory)", "listen_port = \(bouncer.port)", "auth_type = trust",
                "auth_file = \(bouncer.directory)/users.txt", "pool_mode = \(poolMode)",
                "default_pool_size = \(poolSize)", "max_client_conn = 5000",
                "pidfile = \(bouncer.directory)/pgbouncer.pid", "logfile = \(bouncer.directory)/pgbouncer.log",
            ]
            try (lines + settings).joined(separator: "\n").appending("\n").write(
                toFile: bouncer.directory + "/pgbouncer.ini", atomically: true, encoding: .utf8)
            try "\"postgres\" \"\"\n".write(toFile: bouncer.directory + "/users.txt", atomically: true, encoding: .utf8)
            if bouncer.asPostgresUser {
                _ = try EphemeralCluster.run("/bin/chown", ["-R", "postgres:postgres", bouncer.directory])
                _ = try EphemeralCluster.run(
                    "/sbin/runuser", ["-u", "postgres", "--", binary, "-d", bouncer.directory + "/pgbouncer.ini"])
            } else {
                _ = try EphemeralCluster.run(binary, ["-d", bouncer.directory + "/pgbouncer.ini"])
            }
            try bouncer.waitForSocket()
        } catch {
            bouncer.stop()
            throw error
        }
        return bouncer
    }

    private init(directory: String, asPostgresUser: Bool) {
        self.directory = directory
        self.asPostgresUser = asPostgresUser
    }

    deinit {
        stop()
    }

    private func waitForSocket() throws {
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: "\(directory)/.s.PGSQL.\(port)") { return }
            usleep(25_000)
        }
        let log = (try? String(contentsOfFile: directory + "/pgbouncer.log", encoding: .utf8)) ?? ""
        throw EphemeralCluster.Failure(description: "pgbouncer did not start: \(log.suffix(2000))")
    }

    /// The process exists and is not a zombie (an orphan's zombie stays until init reaps it).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    /// The pid PgBouncer wrote, while it runs.
    private var pid: pid_t? {
        guard let text = try? String(contentsOfFile: directory + "/pgbouncer.pid", encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0
        else { return nil }
        return pid
    }

    /// Stops PgBouncer by the pid it wrote: SIGTERM (its immediate shutdown), and SIGKILL if it
    /// is still there after a second (started through `runuser`, it can inherit SIGTERM blocked).
    /// Removes the folder once it has exited. Safe to call twice.
    public func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        guard first else { return }
        if let pid {
            kill(pid, SIGTERM)
            for _ in 0..<40 where Self.isRunning(pid) { usleep(25_000) }
            if Self.isRunning(pid) {
                kill(pid, SIGKILL)
                for _ in 0..<200 where Self.isRunning(pid) { usleep(25_000) }
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
