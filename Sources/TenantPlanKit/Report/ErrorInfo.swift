import TenantPlanPostgres

extension Report {
    /// A failure as reports show it: the migration, SQLSTATE, server message, detail, hint and position.
    public struct ErrorInfo: Codable, Sendable, Equatable, Error {
        public var migration: String?
        public var sqlstate: String?
        public var message: String
        public var detail: String?
        public var hint: String?
        /// 1-based character position within the migration file's text, when the server gave one.
        public var position: Int?
        /// Another attempt may succeed: a lost or refused connection, a serialization failure, a
        /// deadlock, a server shutting down, a lock timeout (`TransientErrors`). Not in reports.
        public var transient = false
        /// The connection was refused or lost, or the server is going away (`TransientErrors.isUnreachable`):
        /// what opens the run's circuit (`Circuit`). Not in reports.
        public var unreachable = false

        private enum CodingKeys: String, CodingKey {
            case migration, sqlstate, message, detail, hint, position
        }

        public init(
            migration: String? = nil, sqlstate: String? = nil, message: String, detail: String? = nil,
            hint: String? = nil, position: Int? = nil
        ) {
            self.migration = migration
            self.sqlstate = sqlstate
            self.message = message
            self.detail = detail
            self.hint = hint
            self.position = position
        }

        /// Any error as a report shows it; a run-level failure (`RunFailure`) keeps its plan key and place.
        public init(_ error: Error, migration: String? = nil) {
            if let failure = error as? RunFailure {
                self = failure.info
            } else if let error = error as? PostgresError {
                self.init(
                    migration: migration, sqlstate: error.sqlstate, message: error.message,
                    detail: error.detail, hint: error.hint, position: error.position)
                self.transient = TransientErrors.isTransient(error)
                self.unreachable = TransientErrors.isUnreachable(error)
            } else {
                self.init(migration: migration, message: "\(error)")
            }
        }
    }
}
