import Foundation
import Yams

/// Compiling a plan, the graph: `after` references, cycles, a stable topological order.
extension Compilation {

    /// Checks `after` references and cycles; returns the actions in a stable topological order.
    mutating func order(_ actions: [Action], declared: [String]) -> [Action]? {
        let names = actions.map(\.name)
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let declaredNames = Set(declared)
        var ok = true
        for action in actions {
            for dependency in action.after where !declaredNames.contains(dependency) {
                sink.error(
                    action.location,
                    "action '\(action.name)' is after '\(dependency)', which is not an action in this plan",
                    fix: Suggestion.didYouMean(dependency, in: names) ?? "actions: \(names.joined(separator: ", "))")
                ok = false
            }
            if action.after.contains(action.name) {
                sink.error(
                    action.location, "dependency cycle: \(action.name) -> \(action.name)",
                    fix: "an action cannot run after itself")
                ok = false
            }
        }
        // Cycle detection (DFS along `after` edges), reporting each cycle once.
        var state = [Int](repeating: 0, count: actions.count)  // 0 new, 1 on stack, 2 done
        var stack: [Int] = []
        var reported = Set<Set<Int>>()
        func visit(_ node: Int, _ sink: inout DiagnosticSink) {
            state[node] = 1
            stack.append(node)
            for dependency in actions[node].after {
                guard let next = index[dependency], next != node else { continue }
                if state[next] == 1 {
                    let cycle = Array(stack[stack.lastIndex(of: next)!...])
                    if reported.insert(Set(cycle)).inserted {
                        let path = (cycle + [next]).map { actions[$0].name }.joined(separator: " -> ")
                        sink.error(
                            actions[next].location, "dependency cycle: \(path)",
                            fix: "each arrow reads 'is after'; remove one of these `after` entries")
                    }
                } else if state[next] == 0 {
                    visit(next, &sink)
                }
            }
            stack.removeLast()
            state[node] = 2
        }
        for node in actions.indices where state[node] == 0 { visit(node, &sink) }
        guard ok, reported.isEmpty, actions.count == declared.count else { return nil }
        // Kahn's algorithm, picking the earliest-declared ready action each time.
        var remaining = actions.map { Set($0.after.compactMap { index[$0] }) }
        var done = [Bool](repeating: false, count: actions.count)
        var ordered: [Action] = []
        while ordered.count < actions.count {
            guard let next = actions.indices.first(where: { !done[$0] && remaining[$0].isEmpty }) else { return nil }
            done[next] = true
            ordered.append(actions[next])
            for i in remaining.indices { remaining[i].remove(next) }
        }
        return ordered
    }
}
