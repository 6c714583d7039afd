/// The per-statement rules, on libpg_query's JSON parse tree of one statement.
enum StatementRules {
    struct Hit {
        var rule: LintRule
        var message: String
        var lock: String?
        var table: String?
    }

    static let accessExclusive = "ACCESS EXCLUSIVE"

    /// Functions whose value differs per row: as a column DEFAULT they force a table rewrite.
    static let volatileFunctions: Set<String> = [
        "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
        "clock_timestamp", "timeofday", "nextval", "txid_current", "statement_timestamp",
    ]

    /// Schemas a tenant migration may name: the catalogs.
    static let systemSchemas: Set<String> = ["pg_catalog", "information_schema", "pg_temp"]

    static func check(_ tree: SQLParser.Tree, created: Set<String>, tenantScoped: Bool) -> [Hit] {
        var hits: [Hit] = []
        let fields = tree.fields
        let table = relation(fields["relation"])
        let isNew = table.map(created.contains) ?? false
        switch tree.node {
        case "IndexStmt" where fields["concurrent"] as? Bool != true && !isNew:
            hits.append(
                Hit(
                    rule: .requireConcurrentIndex, message: "CREATE INDEX on \(table ?? "?") without CONCURRENTLY",
                    lock: "SHARE", table: table))
        case "AlterTableStmt":
            for command in (fields["cmds"] as? [Any] ?? []).compactMap({ node($0, "AlterTableCmd") }) {
                hits += alterTable(command, table: table ?? "?", isNew: isNew)
            }
        case "VacuumStmt" where isFull(fields):
            hits.append(Hit(rule: .banVacuumFullCluster, message: "VACUUM FULL", lock: accessExclusive, table: nil))
        case "ClusterStmt":
            hits.append(
                Hit(rule: .banVacuumFullCluster, message: "CLUSTER \(table ?? "")", lock: accessExclusive, table: table)
            )
        case "RenameStmt":
            hits += rename(fields, table: table)
        case "DropStmt":
            hits += drop(fields)
        default:
            break
        }
        if tenantScoped, let qualified = targets(tree).first(where: { $0.contains(".") && !isSystem($0) }) {
            hits.append(
                Hit(
                    rule: .explicitSchema,
                    message: "\(verb(tree.node)) \(qualified), named with its schema, in a tenant "
                        + "migration", lock: nil, table: qualified))
        }
        return hits
    }

    private static func alterTable(_ command: [String: Any], table: String, isNew: Bool) -> [Hit] {
        let column = command["name"] as? String ?? "?"
        switch command["subtype"] as? String {
        case "AT_AlterColumnType":
            return [
                Hit(
                    rule: .banAlterColumnType, message: "ALTER COLUMN \(column) TYPE on \(table)",
                    lock: accessExclusive,
                    table: table)
            ]
        case "AT_AddColumn":
            guard let definition = node(command["def"], "ColumnDef"), let function = volatileDefault(definition) else {
                return []
            }
            let name = definition["colname"] as? String ?? "?"
            return [
                Hit(
                    rule: .addingVolatileDefault, message: "ADD COLUMN \(name) DEFAULT \(function)() on \(table)",
                    lock: accessExclusive, table: table)
            ]
        case "AT_SetNotNull" where !isNew:
            return [
                Hit(
                    rule: .settingNotNull, message: "ALTER COLUMN \(column) SET NOT NULL on \(table)",
                    lock: accessExclusive, table: table)
            ]
        case "AT_AddConstraint" where !isNew:
            guard let constraint = node(command["def"], "Constraint"),
                ["CONSTR_FOREIGN", "CONSTR_CHECK"].contains(constraint["contype"] as? String ?? ""),
                constraint["skip_validation"] as? Bool != true
            else { return [] }
            let kind = constraint["contype"] as? String == "CONSTR_FOREIGN" ? "FOREIGN KEY" : "CHECK"
            let lock = kind == "CHECK" ? accessExclusive : "SHARE ROW EXCLUSIVE"
            return [
                Hit(
                    rule: .constraintMissingNotValid, message: "ADD \(kind) on \(table) without NOT VALID", lock: lock,
                    table: table)
            ]
        case "AT_DropColumn":
            return [
                Hit(
                    rule: .banDropColumn, message: "DROP COLUMN \(column) on \(table)", lock: accessExclusive,
                    table: table)
            ]
        default:
            return []
        }
    }

    private static func rename(_ fields: [String: Any], table: String?) -> [Hit] {
        let newName = fields["newname"] as? String ?? "?"
        switch fields["renameType"] as? String {
        case "OBJECT_COLUMN":
            let old = fields["subname"] as? String ?? "?"
            return [
                Hit(
                    rule: .renamingColumn, message: "RENAME COLUMN \(old) TO \(newName) on \(table ?? "?")",
                    lock: accessExclusive, table: table)
            ]
        case "OBJECT_TABLE":
            return [
                Hit(
                    rule: .renamingTable, message: "RENAME TABLE \(table ?? "?") TO \(newName)", lock: accessExclusive,
                    table: table)
            ]
        default:
            return []
        }
    }

    private static func drop(_ fields: [String: Any]) -> [Hit] {
        let names = (fields["objects"] as? [Any] ?? []).map(objectName).joined(separator: ", ")
        switch fields["removeType"] as? String {
        case "OBJECT_TABLE":
            return [Hit(rule: .banDropTable, message: "DROP TABLE \(names)", lock: accessExclusive, table: names)]
        case "OBJECT_SCHEMA":
            return [Hit(rule: .banDropSchema, message: "DROP SCHEMA \(names)", lock: accessExclusive, table: nil)]
        default:
            return []
        }
    }

    /// The table an ACCESS EXCLUSIVE statement locks (for `require-lock-timeout`), nil for others.
    static func accessExclusiveTable(_ tree: SQLParser.Tree) -> String? {
        let table = relation(tree.fields["relation"])
        switch tree.node {
        case "AlterTableStmt", "RenameStmt", "ClusterStmt", "TruncateStmt": return table ?? "a table"
        case "VacuumStmt" where isFull(tree.fields): return "the tables it names"
        case "DropStmt" where tree.fields["removeType"] as? String == "OBJECT_TABLE":
            return (tree.fields["objects"] as? [Any] ?? []).map(objectName).joined(separator: ", ")
        default: return nil
        }
    }

    // MARK: - Reading the tree

    /// `{"Kind": {...}}` unwrapped, when the node is of that kind.
    static func node(_ value: Any?, _ kind: String) -> [String: Any]? {
        (value as? [String: Any])?[kind] as? [String: Any]
    }

    /// A RangeVar's `schema.name` (or `name`).
    static func relation(_ value: Any?) -> String? {
        guard let range = value as? [String: Any] ?? node(value, "RangeVar"), let name = range["relname"] as? String
        else { return nil }
        return (range["schemaname"] as? String).map { "\($0).\(name)" } ?? name
    }

    /// A string node's value (`{"String": {"sval": ...}}`, or `str` in older trees).
    static func string(_ value: Any?) -> String? {
        guard let string = node(value, "String") else { return nil }
        return string["sval"] as? String ?? string["str"] as? String
    }

    /// A DropStmt object: a list of name parts (`schema.table`), or a single name.
    static func objectName(_ value: Any) -> String {
        if let list = node(value, "List"), let items = list["items"] as? [Any] {
            return items.compactMap(string).joined(separator: ".")
        }
        return string(value) ?? "?"
    }

    private static func isFull(_ fields: [String: Any]) -> Bool {
        (fields["options"] as? [Any] ?? []).contains { (node($0, "DefElem")?["defname"] as? String) == "full" }
    }

    /// The volatile function a column's DEFAULT calls, if any.
    private static func volatileDefault(_ definition: [String: Any]) -> String? {
        for constraint in (definition["constraints"] as? [Any] ?? []).compactMap({ node($0, "Constraint") })
        where constraint["contype"] as? String == "CONSTR_DEFAULT" {
            if let name = functionNames(constraint["raw_expr"]).first(where: volatileFunctions.contains) { return name }
        }
        return nil
    }

    /// Names of every function called in an expression tree.
    private static func functionNames(_ value: Any?) -> [String] {
        var names: [String] = []
        if let call = node(value, "FuncCall"), let last = (call["funcname"] as? [Any])?.last.flatMap(string) {
            names.append(last)
        }
        if let dictionary = value as? [String: Any] {
            for child in dictionary.values { names += functionNames(child) }
        } else if let array = value as? [Any] {
            for child in array { names += functionNames(child) }
        }
        return names
    }

    /// The relations a statement creates, alters, writes, locks or drops (not those it only reads
    /// or references): `schema.name` when named with a schema.
    static func targets(_ tree: SQLParser.Tree) -> [String] {
        let fields = tree.fields
        switch tree.node {
        case "CreateStmt", "AlterTableStmt", "IndexStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "RenameStmt",
            "ClusterStmt", "CreateTrigStmt", "RuleStmt":
            return relation(fields["relation"]).map { [$0] } ?? []
        case "TruncateStmt", "LockStmt":
            return (fields["relations"] as? [Any] ?? []).compactMap(relation)
        case "ViewStmt":
            return relation(fields["view"]).map { [$0] } ?? []
        case "CreateSeqStmt", "AlterSeqStmt":
            return relation(fields["sequence"]).map { [$0] } ?? []
        case "CreateTableAsStmt":
            return relation(node(fields["into"], "IntoClause")?["rel"] ?? (fields["into"] as? [String: Any])?["rel"])
                .map { [$0] } ?? []
        case "DropStmt":
            return (fields["objects"] as? [Any] ?? []).map(objectName)
        default:
            return []
        }
    }

    private static func isSystem(_ qualified: String) -> Bool {
        systemSchemas.contains(String(qualified.prefix { $0 != "." }))
    }

    /// `CreateStmt` → `CREATE TABLE`, for messages.
    static func verb(_ node: String) -> String {
        let verbs = [
            "CreateStmt": "CREATE TABLE", "AlterTableStmt": "ALTER TABLE", "IndexStmt": "CREATE INDEX on",
            "InsertStmt": "INSERT INTO", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE FROM", "DropStmt": "DROP",
            "TruncateStmt": "TRUNCATE", "ViewStmt": "CREATE VIEW", "RenameStmt": "RENAME",
        ]
        return verbs[node] ?? node
    }
}
