import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// Each lint rule both ways: a statement it must flag and one it must not. Offline.
@Suite struct LintRuleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var rule: LintRule
        var flagged: String
        var clean: String
        var testDescription: String { rule.rawValue }
    }

    /// An earlier migration: `existing` is a table the tenants already have.
    static let setup = Build.migration("0000_setup", "CREATE TABLE existing (id int, note text);")

    static let cases: [Case] = [
        Case(
            rule: .requireConcurrentIndex, flagged: "CREATE INDEX i ON existing (id);",
            clean: "CREATE TABLE fresh (id int); CREATE INDEX i ON fresh (id);"),
        Case(
            rule: .banAlterColumnType, flagged: "ALTER TABLE existing ALTER COLUMN note TYPE varchar(10);",
            clean: "ALTER TABLE existing ALTER COLUMN note SET DEFAULT 'x';"),
        Case(
            rule: .addingVolatileDefault, flagged: "ALTER TABLE existing ADD COLUMN u uuid DEFAULT gen_random_uuid();",
            clean: "ALTER TABLE existing ADD COLUMN at timestamptz DEFAULT now();"),
        Case(
            rule: .settingNotNull, flagged: "ALTER TABLE existing ALTER COLUMN id SET NOT NULL;",
            clean: "CREATE TABLE fresh (id int); ALTER TABLE fresh ALTER COLUMN id SET NOT NULL;"),
        Case(
            rule: .constraintMissingNotValid, flagged: "ALTER TABLE existing ADD CONSTRAINT c CHECK (id > 0);",
            clean: "ALTER TABLE existing ADD CONSTRAINT c CHECK (id > 0) NOT VALID;"),
        Case(
            rule: .banVacuumFullCluster, flagged: "CLUSTER existing USING existing_pkey;",
            clean: "ANALYZE existing;"),
        Case(
            rule: .renamingColumn, flagged: "ALTER TABLE existing RENAME COLUMN note TO remark;",
            clean: "ALTER TABLE existing RENAME CONSTRAINT c TO d;"),
        Case(
            rule: .renamingTable, flagged: "ALTER TABLE existing RENAME TO other;",
            clean: "ALTER INDEX i RENAME TO j;"),
        Case(rule: .banDropTable, flagged: "DROP TABLE existing;", clean: "DROP INDEX IF EXISTS i;"),
        Case(
            rule: .banDropColumn, flagged: "ALTER TABLE existing DROP COLUMN note;",
            clean: "ALTER TABLE existing ADD COLUMN x int;"),
        Case(rule: .banDropSchema, flagged: "DROP SCHEMA legacy CASCADE;", clean: "DROP VIEW IF EXISTS v;"),
        Case(
            rule: .explicitSchema, flagged: "INSERT INTO public.audit VALUES (1);",
            clean: "INSERT INTO audit SELECT code FROM public.currencies;"),
    ]

    static func findings(_ sql: String, scope: ActionScope = .tenants, lockTimeout: Bool = true) -> [LintFinding] {
        let migration = Build.migration("0001_x", sql)
        let action = Build.action("m", .migrate(Build.folder([setup, migration])), scope: scope)
        var plan = Build.plan([action])
        if lockTimeout { plan.database.lockTimeout = .milliseconds(5000) }
        return Linter.lint(plan)
    }

    @Test("each rule flags its statement and not the safe one", arguments: cases)
    func bothWays(_ example: Case) {
        let flagged = Self.findings(example.flagged).map(\.rule)
        #expect(flagged.contains(example.rule), "\(example.flagged) → \(flagged)")
        let clean = Self.findings(example.clean).map(\.rule)
        #expect(!clean.contains(example.rule), "\(example.clean) → \(clean)")
    }

    @Test("require-lock-timeout: an ACCESS EXCLUSIVE statement without database.lockTimeout, once per plan")
    func lockTimeout() {
        let sql = "ALTER TABLE existing ADD COLUMN a int; ALTER TABLE existing ADD COLUMN b int;"
        #expect(Self.findings(sql, lockTimeout: false).map(\.rule) == [.requireLockTimeout])
        #expect(Self.findings(sql, lockTimeout: true).isEmpty)
        #expect(Self.findings("SELECT 1;", lockTimeout: false).isEmpty)
    }

    @Test("a shared action may name its schema; a waiver comment silences one rule for one statement")
    func sharedAndWaivers() {
        #expect(Self.findings("INSERT INTO public.audit VALUES (1);", scope: .shared(schema: "public")).isEmpty)
        let waived = Self.findings(
            "-- tenantplan:lint-ignore ban-drop-table replaced by archive in 0007\nDROP TABLE existing;\n"
                + "DROP TABLE existing2;")
        #expect(waived.map(\.rule) == [.banDropTable])
        #expect(waived.first?.line == 3, "the second DROP, on its own line of the file")
        #expect(waived.first?.column == 1)
    }

    @Test("lint.rules sets a severity or turns a rule off; the finding names its lock and table")
    func severities() {
        let migration = Build.migration("0001_x", "SELECT 1;\nCREATE INDEX i ON existing (id);")
        var plan = Build.plan([Build.action("m", .migrate(Build.folder([Self.setup, migration])))])
        plan.database.lockTimeout = .milliseconds(1000)
        let finding = Linter.lint(plan).first
        #expect(finding?.severity == .warning)
        #expect(finding?.lock == "SHARE")
        #expect(finding?.table == "existing")
        #expect(finding?.line == 2)
        plan.lint.rules[.requireConcurrentIndex] = .error
        #expect(Linter.lint(plan).first?.severity == .error)
        plan.lint.rules[.requireConcurrentIndex] = .off
        #expect(Linter.lint(plan).isEmpty)
    }
}
