/// The migration lint's rules: each with an id, a default severity, what it protects against
/// (after squawk's rule set, made tenant-aware) and the fix. Set per plan with `lint.rules`,
/// waived per statement with `-- tenantplan:lint-ignore ID reason`.
public enum LintRule: String, Sendable, Codable, CaseIterable {
    case requireConcurrentIndex = "require-concurrent-index"
    case banAlterColumnType = "ban-alter-column-type"
    case addingVolatileDefault = "adding-field-with-volatile-default"
    case settingNotNull = "setting-not-nullable-field"
    case constraintMissingNotValid = "constraint-missing-not-valid"
    case banVacuumFullCluster = "ban-vacuum-full-cluster"
    case renamingColumn = "renaming-column"
    case renamingTable = "renaming-table"
    case banDropTable = "ban-drop-table"
    case banDropColumn = "ban-drop-column"
    case banDropSchema = "ban-drop-schema"
    case explicitSchema = "explicit-schema-in-tenant-migration"
    case requireLockTimeout = "require-lock-timeout"

    public enum Severity: String, Sendable, Codable, CaseIterable {
        case error
        case warning
        case off
    }

    public var defaultSeverity: Severity {
        switch self {
        case .banDropTable, .banDropSchema, .explicitSchema: .error
        default: .warning
        }
    }

    /// One line: what goes wrong.
    public var why: String {
        switch self {
        case .requireConcurrentIndex:
            "CREATE INDEX without CONCURRENTLY takes a SHARE lock: writes to the table wait until the index is built"
        case .banAlterColumnType:
            "changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait"
        case .addingVolatileDefault:
            "a volatile DEFAULT (random(), clock_timestamp(), gen_random_uuid(), ...) rewrites the table under an "
                + "ACCESS EXCLUSIVE lock"
        case .settingNotNull:
            "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock"
        case .constraintMissingNotValid:
            "adding a foreign key or check constraint validates every row while holding its lock"
        case .banVacuumFullCluster:
            "VACUUM FULL and CLUSTER rewrite the table under an ACCESS EXCLUSIVE lock"
        case .renamingColumn:
            "the application still running during the deploy uses the old column name"
        case .renamingTable:
            "the application still running during the deploy uses the old table name"
        case .banDropTable:
            "dropping a table destroys its data in every tenant; the running application may still use it"
        case .banDropColumn:
            "dropping a column destroys its data; the running application may still read or write it"
        case .banDropSchema:
            "dropping a schema destroys everything in it"
        case .explicitSchema:
            "a tenant migration runs once per tenant: a statement that creates, alters, writes or drops a "
                + "schema-qualified table does it to that one table from every tenant (reading or referencing one "
                + "is fine)"
        case .requireLockTimeout:
            "without database.lockTimeout, a migration waiting for an ACCESS EXCLUSIVE lock blocks every query "
                + "queued behind it"
        }
    }

    /// What to do instead.
    public var fix: String {
        switch self {
        case .requireConcurrentIndex:
            "use CREATE INDEX CONCURRENTLY in a migration starting with `-- tenantplan: no-transaction`"
        case .banAlterColumnType:
            "add a new column, backfill it in batches, switch the application, then drop the old one"
        case .addingVolatileDefault:
            "add the column without a default (or with a constant one), then backfill in batches"
        case .settingNotNull:
            "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later migration, then SET NOT NULL"
        case .constraintMissingNotValid:
            "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (a weaker lock)"
        case .banVacuumFullCluster:
            "run it by hand in a maintenance window, or use pg_repack"
        case .renamingColumn, .renamingTable:
            "add the new name, move the application over, and remove the old one in a later deploy"
        case .banDropTable, .banDropColumn, .banDropSchema:
            "stop using it in the application first; waive this finding with `-- tenantplan:lint-ignore "
                + "\(rawValue) <reason>` once that is deployed"
        case .explicitSchema:
            "drop the schema name and let search_path pick the tenant's schema (or move the statement to a "
                + "shared action)"
        case .requireLockTimeout:
            "set database.lockTimeout (e.g. 5s) and database.retry, so a blocked migration gives up and retries"
        }
    }
}

/// `lint:` in the plan: severities per rule (`error`, `warning`, `off`).
public struct LintSettings: Sendable, Equatable {
    public var rules: [LintRule: LintRule.Severity] = [:]

    public init(rules: [LintRule: LintRule.Severity] = [:]) {
        self.rules = rules
    }

    public func severity(of rule: LintRule) -> LintRule.Severity {
        rules[rule] ?? rule.defaultSeverity
    }
}
