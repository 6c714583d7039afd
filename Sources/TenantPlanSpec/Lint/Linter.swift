import Foundation

/// One lint finding: a rule a statement of a migration breaks, located in its file.
public struct LintFinding: Sendable, Codable, Equatable, Hashable {
    public var rule: LintRule
    /// `error` or `warning` (rules set `off` find nothing).
    public var severity: LintRule.Severity
    public var action: String
    public var migration: String
    public var file: String
    public var line: Int
    public var column: Int
    /// What the statement does: `CREATE INDEX on orders without CONCURRENTLY`.
    public var message: String
    /// The lock the statement takes, when that is the point (`SHARE`, `ACCESS EXCLUSIVE`).
    public var lock: String?
    /// The table it takes it on.
    public var table: String?
    public var why: String
    public var fix: String

    /// `FILE:LINE:COL: warning: [rule] message (fix)`.
    public var description: String {
        "\(file):\(line):\(column): \(severity.rawValue): [\(rule.rawValue)] \(message): \(why) (fix: \(fix))"
    }
}

/// The migration lint: PostgreSQL's parse trees of each migration, checked against `LintRule`s.
/// Offline and pure: `validate --lint`, `tenantplan lint` and `plan` use it.
public enum Linter {
    /// The comment that waives a rule for the statement after it: `-- tenantplan:lint-ignore ID reason`.
    public static let ignoreDirective = "-- tenantplan:lint-ignore"

    /// Every migration of every action that runs SQL, and the plan-wide rules.
    public static func lint(_ plan: Plan) -> [LintFinding] {
        lint(plan, migrations: plan.actions.flatMap { action in action.runnable.map { (action, $0) } })
    }

    /// `migrations` (an action and one of its migrations each), and the plan-wide rules over them.
    public static func lint(_ plan: Plan, migrations: [(Action, Migration)]) -> [LintFinding] {
        var findings = migrations.flatMap { lint($1, action: $0, settings: plan.lint) }
        findings += lockTimeoutFindings(plan, migrations: migrations)
        return findings
    }

    /// Findings for one migration of `action`.
    public static func lint(_ migration: Migration, action: Action, settings: LintSettings) -> [LintFinding] {
        guard !migration.skipsParser, let trees = SQLParser.trees(migration.batchText) else { return [] }
        let bytes = Array(migration.batchText.utf8)
        var created = Set<String>()
        var findings: [LintFinding] = []
        for tree in trees {
            let leading = String(
                decoding: bytes[tree.byteRange.lowerBound..<min(tree.byteOffset, bytes.count)], as: UTF8.self)
            let waived = waivers(in: leading)
            for hit in StatementRules.check(tree, created: created, tenantScoped: !action.scope.isShared) {
                let severity = settings.severity(of: hit.rule)
                guard severity != .off, !waived.contains(hit.rule.rawValue) else { continue }
                let (line, column) = MigrationCheck.lineAndColumn(of: tree.byteOffset, in: bytes)
                findings.append(
                    LintFinding(
                        rule: hit.rule, severity: severity, action: action.name, migration: migration.name,
                        file: migration.source, line: line, column: column, message: hit.message, lock: hit.lock,
                        table: hit.table, why: hit.rule.why, fix: hit.rule.fix))
            }
            if tree.node == "CreateStmt", let name = StatementRules.relation(tree.fields["relation"]) {
                created.insert(name)
            }
        }
        return findings
    }

    /// Rule ids waived by `-- tenantplan:lint-ignore ID ...` lines in `text`.
    static func waivers(in text: String) -> Set<String> {
        var ids = Set<String>()
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(ignoreDirective) else { continue }
            let words = trimmed.dropFirst(ignoreDirective.count).split(separator: " ")
            if let id = words.first { ids.insert(String(id)) }
        }
        return ids
    }

    /// `require-lock-timeout`: migrations taking ACCESS EXCLUSIVE locks while the plan sets no
    /// `database.lockTimeout`: one finding, on the first such statement.
    static func lockTimeoutFindings(_ plan: Plan, migrations: [(Action, Migration)]) -> [LintFinding] {
        let severity = plan.lint.severity(of: .requireLockTimeout)
        guard severity != .off, plan.database.lockTimeout == .zero else { return [] }
        for (action, migration) in migrations {
            guard !migration.skipsParser, let trees = SQLParser.trees(migration.batchText) else { continue }
            let bytes = Array(migration.batchText.utf8)
            for tree in trees {
                guard let table = StatementRules.accessExclusiveTable(tree) else { continue }
                let (line, column) = MigrationCheck.lineAndColumn(of: tree.byteOffset, in: bytes)
                return [
                    LintFinding(
                        rule: .requireLockTimeout, severity: severity, action: action.name, migration: migration.name,
                        file: migration.source, line: line, column: column,
                        message:
                            "\(StatementRules.verb(tree.node)) takes ACCESS EXCLUSIVE on \(table) and the plan sets no "
                            + "database.lockTimeout", lock: "ACCESS EXCLUSIVE", table: table,
                        why: LintRule.requireLockTimeout.why, fix: LintRule.requireLockTimeout.fix)
                ]
            }
        }
        return []
    }
}

extension Action {
    /// The migrations this action would run (not those it only records).
    public var runnable: [Migration] {
        switch kind {
        case .migrate(let set): set.migrations
        case .sql(let script): [script]
        case .markApplied, .sync: []
        }
    }
}
