/// The plan's actions arranged for execution.
///
/// Actions are grouped into stages. Each stage runs its shared actions once (in order), then
/// sweeps every tenant through the stage's tenant actions (in order). A tenant action after a
/// shared action lands in the same stage or a later one, so the shared action has finished
/// before any tenant starts it; a shared action after a tenant action lands in a later stage,
/// so it waits for that action on every tenant.
public struct ExecutionGraph: Sendable {
    public struct Stage: Sendable {
        public var shared: [Action]
        public var tenant: [Action]
    }

    public var stages: [Stage]

    public init(plan: Plan) {
        var stageOf: [String: Int] = [:]
        var isShared: [String: Bool] = [:]
        for action in plan.actions {  // already topologically ordered
            var stage = 0
            for dependency in action.after {
                guard let dependencyStage = stageOf[dependency] else { continue }
                let crossesToShared = action.scope.isShared && isShared[dependency] == false
                stage = max(stage, dependencyStage + (crossesToShared ? 1 : 0))
            }
            stageOf[action.name] = stage
            isShared[action.name] = action.scope.isShared
        }
        let count = (stageOf.values.max() ?? -1) + 1
        var stages = [Stage](repeating: Stage(shared: [], tenant: []), count: count)
        for action in plan.actions {
            let stage = stageOf[action.name]!
            if action.scope.isShared {
                stages[stage].shared.append(action)
            } else {
                stages[stage].tenant.append(action)
            }
        }
        self.stages = stages
    }

    /// Every tenant action, in execution order.
    public var tenantActions: [Action] { stages.flatMap(\.tenant) }

    /// Every shared action, in execution order.
    public var sharedActions: [Action] { stages.flatMap(\.shared) }
}
