import Foundation
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan graph`: the execution graph the compiler built, offline: each action with its
/// scope, kind, migration count and transaction mode, its `after` edges, and the stages the
/// scheduler runs (shared actions of a stage first, then its tenant actions over every tenant).
public struct GraphDocument: Codable, Sendable, Equatable {
    public var graphVersion = 1
    public var plan: String
    /// Action names per stage, shared ones first.
    public var stages: [[String]]
    public var actions: [Node]
    /// `from` must finish before `to` starts (`to`'s `after`).
    public var edges: [Edge]

    public struct Node: Codable, Sendable, Equatable {
        public var name: String
        /// `shared` or `tenants`.
        public var scope: String
        /// The shared schema (shared actions).
        public var schema: String?
        /// `migrate`, `sql`, `markApplied` or `sync`.
        public var kind: String
        public var migrations: Int
        public var transaction: String
        public var stage: Int
    }

    public struct Edge: Codable, Sendable, Equatable {
        public var from: String
        public var to: String
    }

    /// `planPath` as it should appear (the path given on the command line).
    public init(plan: Plan, planPath: String) {
        self.plan = planPath
        let graph = ExecutionGraph(plan: plan)
        var stageOf: [String: Int] = [:]
        stages = graph.stages.enumerated().map { index, stage in
            let names = (stage.shared + stage.tenant).map(\.name)
            for name in names { stageOf[name] = index + 1 }
            return names
        }
        actions = plan.actions.map { action in
            Node(
                name: action.name, scope: action.scope.isShared ? "shared" : "tenants",
                schema: action.scope.isShared ? action.sharedSchemaName : nil, kind: Self.kind(action.kind),
                migrations: action.migrations.count, transaction: action.transaction.rawValue,
                stage: stageOf[action.name] ?? 0)
        }
        edges = plan.actions.flatMap { action in action.after.map { Edge(from: $0, to: action.name) } }
    }

    static func kind(_ kind: ActionKind) -> String {
        switch kind {
        case .migrate: "migrate"
        case .sql: "sql"
        case .markApplied: "markApplied"
        case .sync: "sync"
        }
    }

    /// One line per node: `shared in public · migrate · 3 migrations · per-migration`.
    static func detail(_ node: Node) -> String {
        let scope = node.schema.map { "shared in \($0)" } ?? "every tenant"
        let count = "\(node.migrations) migration\(node.migrations == 1 ? "" : "s")"
        return "\(scope) · \(node.kind) · \(count) · \(node.transaction)"
    }

    public func json() throws -> Data {
        try StableJSON.data(self)
    }

    /// A Mermaid flowchart (renders in GitHub markdown): one subgraph per stage.
    public func mermaid() -> String {
        func label(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "#amp;").replacingOccurrences(of: "\"", with: "#quot;")
                .replacingOccurrences(of: "<", with: "#lt;").replacingOccurrences(of: ">", with: "#gt;")
        }
        let id = Dictionary(uniqueKeysWithValues: actions.enumerated().map { ($1.name, "a\($0)") })
        var lines = ["flowchart TD"]
        for (index, names) in stages.enumerated() {
            lines.append("  subgraph s\(index + 1)[\"stage \(index + 1)\"]")
            for node in actions where names.contains(node.name) {
                lines.append("    \(id[node.name]!)[\"<b>\(label(node.name))</b><br/>\(label(Self.detail(node)))\"]")
            }
            lines.append("  end")
        }
        for edge in edges {
            guard let from = id[edge.from], let to = id[edge.to] else { continue }
            lines.append("  \(from) --> \(to)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Graphviz dot: one cluster per stage.
    public func dot() -> String {
        func quoted(_ text: String) -> String {
            "\""
                + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\""
        }
        var lines = ["digraph tenantplan {", "  rankdir=TB;", "  node [shape=box, fontname=\"Helvetica\"];"]
        for (index, names) in stages.enumerated() {
            lines.append("  subgraph cluster_\(index + 1) {")
            lines.append("    label=\(quoted("stage \(index + 1)"));")
            for node in actions where names.contains(node.name) {
                lines.append("    \(quoted(node.name)) [label=\(quoted(node.name + "\n" + Self.detail(node)))];")
            }
            lines.append("  }")
        }
        for edge in edges { lines.append("  \(quoted(edge.from)) -> \(quoted(edge.to));") }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
