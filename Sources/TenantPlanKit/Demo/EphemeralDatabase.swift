import Foundation
import TenantPlanCluster
import TenantPlanPostgres

/// A throwaway database for `--ephemeral` runs and the demo: a cluster started from the installed
/// server binaries in a temporary folder, loaded with seed files. `stop()` removes it all.
public final class EphemeralDatabase: Sendable {
    public let cluster: EphemeralCluster

    /// libpq conninfo of the cluster's `postgres` database.
    public var conninfo: String { cluster.conninfo }

    private init(cluster: EphemeralCluster) {
        self.cluster = cluster
    }

    /// Starts a cluster and runs each of `seed` (SQL files, in order) after setting `settings`
    /// (`SET name = value`) in the same session.
    public static func start(seed: [String], settings: [String: String] = [:]) async throws(TenantPlanError)
        -> EphemeralDatabase
    {
        let cluster: EphemeralCluster
        do {
            cluster = try EphemeralCluster.start()
        } catch {
            throw .failed("cannot start a throwaway PostgreSQL: \(error)")
        }
        let database = EphemeralDatabase(cluster: cluster)
        do {
            try await database.load(seed, settings: settings)
        } catch {
            database.stop()
            throw error
        }
        return database
    }

    private func load(_ seed: [String], settings: [String: String]) async throws(TenantPlanError) {
        guard !seed.isEmpty else { return }
        let assignments = settings.keys.sorted().map { "SET \($0) = \(SQL.quoteLiteral(settings[$0]!));" }.joined()
        let session: PGSession
        do {
            session = try await PGSession.open(conninfo)
        } catch {
            throw .failed("cannot connect to the throwaway PostgreSQL: \(error)")
        }
        for file in seed {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw .failed("cannot read seed file \(file)")
            }
            do {
                _ = try await session.run { try $0.exec(assignments + text) }
            } catch {
                throw .failed("seed file \(file) failed: \(error)")
            }
        }
    }

    /// Stops the server and removes its folder. Safe to call twice.
    public func stop() {
        cluster.stop()
    }

    /// Stops every throwaway database of this process, even one still starting (a second Ctrl-C).
    public static func stopAll() {
        EphemeralCluster.stopAll()
    }
}
