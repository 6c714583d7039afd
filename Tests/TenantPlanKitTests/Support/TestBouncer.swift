import Foundation
import TenantPlanCluster

/// PgBouncer in transaction pooling in front of the test server: one started once per test
/// process in front of the suite's cluster, with few server connections per database so that
/// clients share them, or the one named by `TENANTPLAN_TEST_PGBOUNCER_URL` (key=value conninfo
/// without dbname, in transaction mode, in front of the `TENANTPLAN_TEST_DATABASE_URL` server).
enum TestBouncer {
    /// Server connections per database.
    static let poolSize = 3

    private static let started: Result<String, Error> = {
        if let url = ProcessInfo.processInfo.environment["TENANTPLAN_TEST_PGBOUNCER_URL"], !url.isEmpty {
            return .success(url)
        }
        do {
            guard let cluster = try TestServer.server().cluster else {
                throw TestFailure(
                    "TENANTPLAN_TEST_DATABASE_URL is set: set TENANTPLAN_TEST_PGBOUNCER_URL too (a PgBouncer in "
                        + "transaction mode in front of that server)")
            }
            let bouncer = try EphemeralPgBouncer.start(before: cluster, poolSize: poolSize)
            running = bouncer
            atexit { running?.stop() }
            return .success("host=\(bouncer.directory) port=\(bouncer.port) user=postgres")
        } catch {
            return .failure(error)
        }
    }()

    nonisolated(unsafe) private static var running: EphemeralPgBouncer?

    /// `database` reached through the pooler.
    static func conninfo(_ database: TestDatabase) throws -> String {
        switch started {
        case .success(let base): return base + " dbname=\(database.name)"
        case .failure(let error):
            throw TestFailure(
                "pooler tests need PgBouncer: could not start one (\(error)); install the Debian package "
                    + "`pgbouncer` or set TENANTPLAN_TEST_PGBOUNCER_URL")
        }
    }
}
