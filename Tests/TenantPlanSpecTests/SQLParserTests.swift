import Testing

@testable import TenantPlanSpec

/// PostgreSQL's parser reading migration files, offline.
@Suite struct SQLParserTests {
    @Test("statements are found with their first token's byte offset and kind")
    func statements() throws {
        let text = "-- lead\nCREATE TABLE a (i int);\n  /* c */ COMMIT;\nCOPY a TO STDOUT;\nCOPY a FROM '/tmp/x';"
        let statements = try SQLParser.parse(text).get()
        #expect(statements.map(\.node) == ["CreateStmt", "TransactionStmt", "CopyStmt", "CopyStmt"])
        #expect(statements.map(\.byteOffset) == [8, 42, 50, 68])
        #expect(statements[1].transactionKind == "TRANS_STMT_COMMIT")
        #expect(statements.map(\.copiesThroughClient) == [false, false, true, false])
    }

    @Test("a syntax error gives the server's message and the byte it points at")
    func syntaxError() {
        guard case .failure(let error) = SQLParser.parse("SELECT 'é'; CREATE TABLEX a") else {
            Issue.record("parsed")
            return
        }
        #expect(error.message == "syntax error at or near \"TABLEX\"")
        #expect(error.byteOffset == 20)
        #expect(MigrationCheck.lineAndColumn(of: 20, in: Array("SELECT 'é'; CREATE TABLEX a".utf8)) == (1, 20))
    }

    @Test(
        "statements that cannot run in a transaction block are named",
        arguments: [
            ("VACUUM t", "VACUUM"), ("CREATE INDEX CONCURRENTLY i ON t (c)", "CREATE INDEX CONCURRENTLY"),
            ("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"), ("CREATE DATABASE d", "CREATE DATABASE"),
            ("REINDEX TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY"), ("ANALYZE t", nil),
            ("CREATE INDEX i ON t (c)", nil), ("REINDEX SCHEMA s", "REINDEX SCHEMA"), ("REINDEX TABLE t", nil),
            ("REINDEX DATABASE d", "REINDEX DATABASE"), ("REINDEX SYSTEM d", "REINDEX SYSTEM"),
            ("DISCARD ALL", "DISCARD ALL"), ("DISCARD TEMP", nil),
            ("ALTER DATABASE d SET TABLESPACE x", "ALTER DATABASE ... SET TABLESPACE"),
            ("ALTER DATABASE d SET work_mem = 1", nil),
            ("ALTER TABLE t DETACH PARTITION p CONCURRENTLY", "ALTER TABLE ... DETACH PARTITION CONCURRENTLY"),
            ("ALTER TABLE t DETACH PARTITION p", nil),
            ("CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", "CREATE SUBSCRIPTION with create_slot"),
            ("CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (connect = false)", nil),
            ("CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (create_slot = off)", nil),
            ("ALTER SUBSCRIPTION s REFRESH PUBLICATION", "ALTER SUBSCRIPTION ... REFRESH"),
            ("ALTER SUBSCRIPTION s ADD PUBLICATION p", "ALTER SUBSCRIPTION ... REFRESH"),
            ("ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)", nil),
            ("ALTER SUBSCRIPTION s ENABLE", nil),
        ])
    func outsideTransaction(sql: String, expected: String?) throws {
        #expect(try SQLParser.parse(sql).get().first?.outsideTransactionOnly == expected)
    }

    @Test("the no-parse directive may stand in any leading comment line; no-transaction only on the first")
    func directives() {
        let migration = Migration(
            name: "m", bytes: Array("-- tenantplan: no-transaction\n-- tenantplan: no-parse\nSELECT 1".utf8),
            source: "m")
        #expect(migration.noTransaction)
        #expect(migration.skipsParser)
        let late = Migration(name: "m", bytes: Array("-- x\n-- tenantplan: no-transaction\nSELECT 1".utf8), source: "m")
        #expect(!late.noTransaction)
    }

    @Test("a no-transaction migration runs statement by statement, as the parser splits it")
    func noTransactionSplit() {
        var migration = Migration(
            name: "m",
            bytes: Array(
                ("-- tenantplan: no-transaction\nCREATE INDEX CONCURRENTLY a ON t (a);\n"
                    + "CREATE INDEX CONCURRENTLY b ON t (b);").utf8),
            source: "m")
        migration.splitByParser()
        #expect(migration.statements.count == 2)
        #expect(migration.statementOffsets == [30, 68])
    }
}
