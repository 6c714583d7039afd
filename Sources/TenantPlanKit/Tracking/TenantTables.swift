import TenantPlanSpec

/// The tracking tables one tenant (or one shared schema) uses, built once from the plan: which
/// table each action records in, the settings it has, and what a row in it may match.
public struct TenantTables: Sendable {
    /// One distinct tracking table.
    public struct Table: Sendable {
        public var ref: TrackingTableRef
        /// The settings of the first action (in plan order) recording in this table.
        public var tracking: TrackingSettings
        /// The folders' migrations recorded here, in order (what "missing" compares against;
        /// `sql` action scripts are not part of a folder).
        public var folders: [Migration]
        /// The same, folder by folder: order (gaps, out-of-order) only means something within one.
        public var folderSets: [[Migration]] = []
        /// Every migration and script recorded here by any action: what a row may match.
        public var known: [Migration]
        /// The format `autoMigrateFormat` converts this table to (nil: it is not converted).
        public var conversionTarget: TrackingFormat?
    }

    public private(set) var tables: [Table] = []
    private var tableIndex: [TrackingTableRef: Int] = [:]
    private var actionRefs: [String: TrackingTableRef] = [:]

    /// The tables of the tenant actions `graph.tenantActions` for `tenant`.
    public init(tenant: Tenant, graph: ExecutionGraph) {
        self.init(actions: graph.tenantActions, schema: tenant.schema, id: tenant.id)
    }

    /// The table of shared `action`, with every shared action of `graph` recording in it.
    public init(shared action: Action, graph: ExecutionGraph) {
        let ref = Self.ref(for: action, schema: action.sharedSchema ?? "public", id: "")
        let sameTable = graph.sharedActions.filter { other in
            Self.ref(for: other, schema: other.sharedSchema ?? "public", id: "") == ref
        }
        self.init(actions: sameTable, schema: "public", id: "")
    }

    private init(actions: [Action], schema: String, id: String) {
        for action in actions {
            let ref = Self.ref(for: action, schema: action.sharedSchema ?? schema, id: id)
            actionRefs[action.name] = ref
            let index: Int
            if let existing = tableIndex[ref] {
                index = existing
            } else {
                index = tables.count
                tableIndex[ref] = index
                tables.append(Table(ref: ref, tracking: action.tracking, folders: [], known: []))
            }
            // Assigned, not appended to an empty array: every tenant's tables then share the plan's
            // arrays instead of holding copies (thousands of tenants, hundreds of migrations).
            Self.add(action.migrations, to: &tables[index].known)
            if case .sql = action.kind {
            } else {
                Self.add(action.recordable, to: &tables[index].folders)
                // One folder once, even when a markApplied baseline and a migrate action both name it.
                let sources = action.migrations.map(\.source)
                if !tables[index].folderSets.contains(where: { $0.map(\.source) == sources }) {
                    tables[index].folderSets.append(action.migrations)
                }
            }
            if tables[index].conversionTarget == nil, action.tracking.autoMigrateFormat,
                case .fixed(let format) = action.tracking.format
            {
                tables[index].conversionTarget = format
            }
        }
    }

    private static func add(_ migrations: [Migration], to list: inout [Migration]) {
        if list.isEmpty { list = migrations } else { list += migrations }
    }

    /// Where `action` records its migrations in `schema`.
    public static func ref(for action: Action, schema: String, id: String) -> TrackingTableRef {
        TrackingTableRef(
            schema: action.tracking.tableSchema(forTenantSchema: schema, id: id), table: action.tracking.table)
    }

    /// The table `action` (one of the actions these tables were built from) records in.
    public func ref(for action: Action) -> TrackingTableRef {
        actionRefs[action.name]!
    }

    public func table(_ ref: TrackingTableRef) -> Table? {
        tableIndex[ref].map { tables[$0] }
    }

    /// What a row of `ref` may match.
    public func known(in ref: TrackingTableRef) -> [Migration] {
        table(ref)?.known ?? []
    }

    /// Every table's place.
    public var refs: [TrackingTableRef] { tables.map(\.ref) }

    /// The schemas holding the tables.
    public var schemas: [String] { tables.map(\.ref.schema) }
}

extension Action {
    /// The schema of a shared action (nil for tenant actions).
    public var sharedSchema: String? {
        if case .shared(let schema) = scope { return schema }
        return nil
    }
}
