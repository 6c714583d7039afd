import Foundation
import Testing

@testable import TenantPlanSpec

@Suite struct StatementSplitterTests {
    @Test("splits on the marker at a line's end, as drizzle-kit writes it")
    func markerAtLineEnd() {
        let sql = "CREATE TABLE a (id int);--> statement-breakpoint\nCREATE TABLE b (id int);\n"
        #expect(StatementSplitter.split(sql) == ["CREATE TABLE a (id int);", "\nCREATE TABLE b (id int);\n"])
    }

    @Test("splits on the marker on a line of its own")
    func markerOnOwnLine() {
        let sql = "CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE TABLE b (id int);"
        #expect(StatementSplitter.split(sql) == ["CREATE TABLE a (id int);\n", "\nCREATE TABLE b (id int);"])
    }

    @Test("a file without the marker is sent whole, several statements and all")
    func noMarker() {
        let sql = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
        #expect(StatementSplitter.split(sql) == [sql])
    }

    @Test("blank pieces are dropped")
    func blanks() {
        #expect(
            StatementSplitter.split("SELECT 1;--> statement-breakpoint\n\n--> statement-breakpoint\n") == ["SELECT 1;"])
        #expect(StatementSplitter.split("  \n") == [])
    }

    @Test("the no-transaction directive is read from the first line only")
    func directive() {
        #expect(
            StatementSplitter.hasNoTransactionDirective(
                "-- tenantplan: no-transaction\nCREATE INDEX CONCURRENTLY x ON y (z);"))
        #expect(StatementSplitter.hasNoTransactionDirective("-- tenantplan: no-transaction\r\nSELECT 1"))
        #expect(!StatementSplitter.hasNoTransactionDirective("SELECT 1;\n-- tenantplan: no-transaction\n"))
    }
}

@Suite struct HashingTests {
    @Test("the hash is the lowercase hex SHA-256 of the exact bytes")
    func sha256() {
        #expect(Hashing.sha256Hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            Hashing.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let migration = Migration(name: "0001_x", bytes: Array("SELECT 1;\r\n".utf8), source: "x")
        #expect(migration.hash == Hashing.sha256Hex(Array("SELECT 1;\r\n".utf8)))
        #expect(migration.hash != Hashing.sha256Hex(Array("SELECT 1;\n".utf8)))
    }
}

@Suite struct GlobTests {
    @Test(
        "globs match tenant ids",
        arguments: [
            ("acme*", "acme", true), ("acme*", "acme-eu", true), ("acme*", "xacme", false),
            ("test-?", "test-1", true), ("test-?", "test-12", false), ("*-eu", "acme-eu", true),
            ("[a-c]*", "beta", true), ("[!a-c]*", "beta", false), ("a\\*", "a*", true), ("a\\*", "ab", false),
            ("*", "", true), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false),
        ])
    func matching(pattern: String, id: String, expected: Bool) {
        #expect(Glob(pattern).matches(id) == expected)
    }
}

@Suite struct TemplateTests {
    @Test("a schema template maps ids to schemas and back")
    func roundTrip() throws {
        let template = try #require(SchemaTemplate("tenant_{id}_v2"))
        #expect(template.schema(for: "acme") == "tenant_acme_v2")
        #expect(template.id(fromSchema: "tenant_acme_v2") == "acme")
        #expect(template.id(fromSchema: "other_acme") == nil)
        #expect(template.id(fromSchema: "tenant__v2") == nil)
        #expect(SchemaTemplate("tenant_") == nil)
    }

    @Test("${VAR} and ${VAR:-default} expand; unset variables are reported")
    func environment() {
        let expander = EnvironmentExpander(environment: ["HOST": "db", "EMPTY": ""])
        #expect(expander.expand("postgresql://${HOST}/app").value == "postgresql://db/app")
        #expect(expander.expand("${MISSING:-localhost}:${PORT:-5432}").value == "localhost:5432")
        #expect(expander.expand("${EMPTY:-fallback}").value == "fallback")
        #expect(expander.expand("${MISSING}x").unset == ["MISSING"])
        #expect(expander.expand("a $HOST ${").value == "a $HOST ${")
    }

    @Test("durations need a unit, except 0")
    func durations() {
        #expect(PlanDuration(parsing: "0") == .zero)
        #expect(PlanDuration(parsing: "250ms") == .milliseconds(250))
        #expect(PlanDuration(parsing: "10s") == .milliseconds(10_000))
        #expect(PlanDuration(parsing: "5m") == .milliseconds(300_000))
        #expect(PlanDuration(parsing: "1h") == .milliseconds(3_600_000))
        for bad in ["10", "1.5s", "-1s", "10 s", "s", "1d", "", "999999h"] {
            #expect(PlanDuration(parsing: bad) == nil, "\(bad) must be refused")
        }
    }

    @Test("did-you-mean finds near misses only")
    func suggestions() {
        #expect(Suggestion.closest(to: "concurency", in: PlanCompiler.topKeys) == "concurrency")
        #expect(Suggestion.closest(to: "acions", in: PlanCompiler.topKeys) == "actions")
        #expect(Suggestion.closest(to: "zzzzzz", in: PlanCompiler.topKeys) == nil)
    }
}

@Suite struct PlaceholderTests {
    @Test("{id} and {schema} are filled in, once, anything else kept; a template without them is itself")
    func expand() {
        #expect(Template.expand("tenant_{id}", schema: nil, id: "acme") == "tenant_acme")
        #expect(Template.expand("{schema}_log_{id}", schema: "t_ü", id: "ü") == "t_ü_log_ü")
        #expect(Template.expand("{schema}", schema: nil, id: "x") == "{schema}", "no schema given: kept")
        #expect(Template.expand("{id}", schema: "s", id: "{schema}") == "{schema}", "values are not expanded again")
        #expect(Template.expand("{i}{id", schema: "s", id: "x") == "{i}{id")
        #expect(Template.expand("public", schema: "s", id: "x") == "public")
        #expect(Template.expand("a\"{id}'", schema: nil, id: "é") == "a\"é'")
    }
}
