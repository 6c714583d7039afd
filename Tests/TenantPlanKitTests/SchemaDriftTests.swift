import Foundation
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// `tenantplan drift` on a real database: hand fixes and a half-done migration found, named, and
/// grouped per applied state.
@Suite struct SchemaDriftTests {
    @Test("tenants at one applied state whose schemas differ are named with what differs from the majority")
    func drift() async throws {
        let db = try await TestDatabase.create("drift")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_orders.sql",
            "CREATE TABLE orders (id serial PRIMARY KEY, note varchar(200), created timestamptz DEFAULT now());\n"
                + "CREATE INDEX orders_created_idx ON orders (created);")
        try fixture.write("m/0002_items.sql", "CREATE TABLE items (order_id int REFERENCES orders (id));")
        let ids = (0..<8).map { "d\($0)" }
        let plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(ids, actions: "  - { name: m, migrate: m }"), database: db)
        #expect(try await runApply(plan, db).exitCode == 0)
        try await db.exec(
            "DROP INDEX t_d1.orders_created_idx; ALTER TABLE t_d2.orders ALTER COLUMN note TYPE text;"
                + "CREATE TABLE t_d3.scratch (z int); DELETE FROM t_d7.__drizzle_migrations WHERE name = '0002_items';"
                + "DROP TABLE t_d7.items")
        let report = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "drift"))
            .drift()
        #expect(report.summary.compared == 8)
        #expect(report.summary.states == 2)
        #expect(report.summary.drifted == 3)
        let main = try #require(report.states.first)
        #expect(main.applied == "2 applied, latest 0002_items")
        #expect(main.variants.first?.tenants == ["d0", "d4", "d5", "d6"])
        #expect(main.variants.first?.reference == true)
        let differences = Dictionary(
            uniqueKeysWithValues: main.variants.dropFirst().map { ($0.tenants.joined(), $0.differences) })
        #expect(differences["d1"] == ["index orders_created_idx missing"])
        #expect(differences["d2"] == ["column orders.note: text vs character varying(200)"])
        #expect(differences["d3"] == ["column scratch.z extra", "table scratch extra"])
        #expect(report.states.last?.applied == "1 applied, latest 0001_orders")
        #expect(report.states.last?.variants.map(\.tenants) == [["d7"]], "alone in its state: nothing to compare")
        let again = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "drift"))
            .drift()
        #expect(try again.json() == report.json(), "byte-stable")
    }
}
