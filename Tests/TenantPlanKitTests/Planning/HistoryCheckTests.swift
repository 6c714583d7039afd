import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// Applied history against the files: edits, out-of-order, what --mark-missing may record. No database.
@Suite struct HistoryCheckTests {
    let original = [Build.migration("0000_a", "SELECT 0;", when: 10), Build.migration("0001_b", "SELECT 1;", when: 20)]
    var edited: [Migration] {
        [original[0], Build.migration("0001_b", "-- edited\nSELECT 1;", when: 20)]
    }

    @Test(
        "an edited applied migration is found in every format that records a hash",
        arguments: [
            TrackingFormat.hash, .drizzleKit, .tenantplan,
        ])
    func editsFound(format: TrackingFormat) {
        let state = Build.state(format, original)
        let found = HistoryCheck.edited(state, folders: edited)
        #expect(found == [HistoryCheck.Edited(migration: "0001_b", recorded: original[1].hash, now: edited[1].hash)])
        #expect(HistoryCheck.edited(state, folders: original).isEmpty)
    }

    @Test("in a hash table shared with an sql action, the script's row takes no place in the folder's order")
    func scriptRowsKeepTheOrder() {
        let folder = [Build.migration("0000_a", "SELECT 0;"), Build.migration("0001_b", "SELECT 1;")]
        let script = Build.migration("backfill", "UPDATE t SET x = 1;")
        var state = Build.state(.hash, [folder[0], script])
        state.rows.append(TrackingState.Row(id: 3, key: "old-hash-of-b", applied: nil))
        let found = HistoryCheck.edited(state, folders: folder, known: folder + [script])
        #expect(found.map(\.migration) == ["0001_b"])
        #expect(
            HistoryCheck.edited(Build.state(.hash, [folder[0], script]), folders: folder, known: folder + [script])
                .isEmpty)
    }

    @Test("the name format records no hash, so it shows no edit")
    func nameShowsNone() {
        #expect(HistoryCheck.edited(Build.state(.name, original), folders: edited).isEmpty)
    }

    @Test("a pending migration sorting before the latest applied one is out of order")
    func outOfOrder() throws {
        let folders = [Build.migration("0001_a"), Build.migration("0002_b"), Build.migration("0003_c")]
        let state = Build.state(.name, [folders[0], folders[2]])
        let found = try #require(HistoryCheck.outOfOrder([folders[1]], folders: folders, state: state))
        #expect(found.pending.name == "0002_b")
        #expect(found.latest.name == "0003_c")
        #expect(HistoryCheck.outOfOrder([folders[2]], folders: folders, state: Build.state(.name, [folders[0]])) == nil)
    }

    @Test("the planner refuses a tenant whose step would run with an edit or out of order, naming the fix")
    func refusals() throws {
        let action = Build.migrate("m", edited + [Build.migration("0002_c")], tracking: Build.tracking(.fixed(.hash)))
        let state = Build.state(.hash, original)
        let step = ActionStep.decide(action, table: Build.ref, state: state, known: action.migrations, mode: .apply)
        let error = try #require(
            HistoryCheck.refusal(step, state: state, folders: action.migrations, outOfOrder: .refuse))
        #expect(error.message.hasPrefix("0001_b looks edited after it was applied"), "hash: paired by place")
        #expect(error.hint?.contains("sync PLAN --accept-edits") == true)
    }

    @Test("--mark-missing records gaps by default, up to a name, or everything")
    func markScopes() {
        let folders = (1...4).map { Build.migration("000\($0)_m") }
        let state = Build.state(.name, [folders[0], folders[2]])
        let missing = state.pending(folders)
        #expect(MarkScope.gaps.limit(missing, folders: folders, state: state).map(\.name) == ["0002_m"])
        #expect(
            MarkScope.upTo("0004_m").limit(missing, folders: folders, state: state).map(\.name) == ["0002_m", "0004_m"])
        #expect(MarkScope.all.limit(missing, folders: folders, state: state).count == 2)
        #expect(MarkScope.gaps.limit(folders, folders: folders, state: .missing).isEmpty, "no history: no gaps")
    }
}
