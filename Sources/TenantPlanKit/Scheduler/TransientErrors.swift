import TenantPlanPostgres

/// Failures that another attempt, on a fresh connection after a delay, may not meet again.
public enum TransientErrors {
    /// SQLSTATEs retried besides class 08 (connection exception): serialization failure,
    /// deadlock, too many connections, admin shutdown, crash shutdown, cannot connect now.
    public static let states: Set<String> = ["40001", "40P01", "53300", "57P01", "57P02", "57P03"]

    /// Whether `error` is worth another attempt. A lock timeout (55P03 from `lock_timeout`) is;
    /// `NOWAIT`'s 55P03, a statement timeout or a cancel (57014) and every other server error
    /// (syntax, constraints, missing objects) are not.
    public static func isTransient(_ error: PostgresError) -> Bool {
        if error.kind == .connection { return true }
        guard let sqlstate = error.sqlstate else { return false }
        if sqlstate.hasPrefix("08") || states.contains(sqlstate) { return true }
        return sqlstate == "55P03" && error.message.contains("lock timeout")
    }

    /// The server cannot be reached or is going away: a refused or lost connection, class 08,
    /// or a shutdown (57P01 admin shutdown, 57P02 crash, 57P03 cannot connect now).
    public static func isUnreachable(_ error: PostgresError) -> Bool {
        if error.kind == .connection { return true }
        guard let sqlstate = error.sqlstate else { return false }
        return sqlstate.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlstate)
    }
}
