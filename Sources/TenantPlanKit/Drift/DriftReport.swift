import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `tenantplan drift`: tenants at the same applied state should have the same schema. Tenants
/// are grouped by applied state, then by a fingerprint of their schema; each variant that is
/// not its state's majority says what differs from it. Sorted, no times: byte-stable.
public struct DriftReport: Codable, Sendable {
    public var driftVersion = 1
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var summary: Summary
    /// Applied states, most tenants first.
    public var states: [State]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        /// Tenants compared (their schema exists).
        public var compared = 0
        public var states = 0
        /// Tenants whose schema differs from their state's majority.
        public var drifted = 0
    }

    public struct State: Codable, Sendable, Equatable {
        /// The applied migrations of the state, in words (`3 applied, latest 0003_c`).
        public var applied: String
        public var tenants: Int
        /// Schema variants, the reference (most tenants) first.
        public var variants: [Variant]
    }

    public struct Variant: Codable, Sendable, Equatable {
        public var fingerprint: String
        public var reference: Bool
        /// Objects in the schema (tables, columns, indexes, constraints, views, sequences, functions).
        public var objects: Int
        public var tenants: [String]
        /// What differs from the reference: `index orders_created_at_idx missing`, `column invoices.note:
        /// text vs character varying(200)`, `table scratch extra`.
        public var differences: [String]
    }

    public var hasDrift: Bool { summary.drifted > 0 }

    public func json() throws -> Data {
        try StableJSON.data(self)
    }
}

/// The analysis behind `DriftReport` (pure).
public enum DriftAnalysis {
    /// One compared tenant: its applied state (key and words) and its schema's objects.
    public struct Input: Sendable {
        public var id: String
        public var stateKey: String
        public var stateWords: String
        public var objects: [String: String]

        public init(id: String, stateKey: String, stateWords: String, objects: [String: String]) {
            self.id = id
            self.stateKey = stateKey
            self.stateWords = stateWords
            self.objects = objects
        }
    }

    /// Longest definition quoted in a difference.
    static let quoteLimit = 80

    public static func states(_ inputs: [Input]) -> [DriftReport.State] {
        let byState = Dictionary(grouping: inputs, by: \.stateKey)
        return byState.values.map { members in
            let byPrint = Dictionary(grouping: members) { fingerprint($0.objects) }
            var variants = byPrint.map { print, group in
                DriftReport.Variant(
                    fingerprint: print, reference: false, objects: group[0].objects.count,
                    tenants: group.map(\.id).sorted(), differences: [])
            }
            variants.sort {
                $0.tenants.count != $1.tenants.count
                    ? $0.tenants.count > $1.tenants.count : $0.tenants[0] < $1.tenants[0]
            }
            variants[0].reference = true
            let reference = byPrint[variants[0].fingerprint]![0].objects
            for index in variants.indices.dropFirst() {
                variants[index].differences = differences(byPrint[variants[index].fingerprint]![0].objects, reference)
            }
            return DriftReport.State(applied: members[0].stateWords, tenants: members.count, variants: variants)
        }.sorted { $0.tenants != $1.tenants ? $0.tenants > $1.tenants : $0.applied < $1.applied }
    }

    /// SHA-256 (first 12 hex digits) of the sorted objects with their definitions.
    static func fingerprint(_ objects: [String: String]) -> String {
        let text = objects.keys.sorted().map { "\($0)\u{1F}\(objects[$0]!)" }.joined(separator: "\n")
        return String(Hashing.sha256Hex(Array(text.utf8)).prefix(12))
    }

    /// What `objects` has that `reference` has not, lacks, or defines otherwise.
    static func differences(_ objects: [String: String], _ reference: [String: String]) -> [String] {
        func quoted(_ text: String) -> String {
            text.count > quoteLimit ? String(text.prefix(quoteLimit)) + "…" : text
        }
        return compare(objects, reference) { key, mine, theirs in
            guard let mine else { return "\(key) missing" }
            guard let theirs else { return "\(key) extra" }
            return "\(key): \(quoted(mine)) vs \(quoted(theirs))"
        }
    }

    /// One phrase for each key whose definition differs between `mine` and `theirs` (absent on one
    /// side, or defined otherwise), in key order; `phrase` gets the key and both definitions.
    static func compare(
        _ mine: [String: String], _ theirs: [String: String], phrase: (String, String?, String?) -> String
    ) -> [String] {
        Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            mine[key] == theirs[key] ? nil : phrase(key, mine[key], theirs[key])
        }
    }
}
