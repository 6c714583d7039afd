import TenantPlanKit

/// `tenantplan plan` for people: text for a terminal or a CI log, markdown for a pull-request
/// comment. Both come from a `PlanReview` alone, so they are byte-stable too.
public enum PlanText {
    /// Tenant ids named per group before `… and N more` (the JSON has all of them).
    public static let namedTenants = 10

    /// `4,812`.
    public static func number(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// `3 tenants (acme, globex, initech)`, `4,812 tenants (a, b, …, j, and 4,802 more)`.
    static func tenants(_ ids: [String]) -> String {
        let noun = "\(number(ids.count)) tenant\(ids.count == 1 ? "" : "s")"
        let named = ids.prefix(namedTenants).joined(separator: ", ")
        let more = ids.count > namedTenants ? ", … and \(number(ids.count - namedTenants)) more" : ""
        return "\(noun) (\(named)\(more))"
    }

    static func describe(_ group: PlanReview.Group) -> String {
        var parts = group.changes
        if let error = group.error { parts.append(RunText.describe(error: error)) }
        return parts.joined(separator: "; ")
    }

    static func totals(_ summary: PlanReview.Summary) -> String {
        var text =
            "\(number(summary.tenants)) tenant\(summary.tenants == 1 ? "" : "s"): \(number(summary.toChange)) would "
            + "change, \(number(summary.upToDate)) up to date, \(number(summary.failed)) failed, "
            + "\(number(summary.skipped)) skipped; \(number(summary.migrationsPending)) migration"
            + "\(summary.migrationsPending == 1 ? "" : "s") pending"
        if summary.migrationsToMark > 0 { text += ", \(number(summary.migrationsToMark)) to mark" }
        if summary.orphansToDelete > 0 { text += ", \(number(summary.orphansToDelete)) orphan rows to delete" }
        if summary.schemasToCreate > 0 { text += ", \(number(summary.schemasToCreate)) schemas to create" }
        if summary.tablesToConvert > 0 { text += ", \(number(summary.tablesToConvert)) tables to convert" }
        return text
    }

    /// `lint warning [require-concurrent-index] m/0003_c line 3: CREATE INDEX on orders without
    /// CONCURRENTLY: SHARE on orders in 4,812 schemas`.
    static func lintLine(_ item: PlanReview.Finding) -> String {
        let finding = item.finding
        var text =
            "lint \(finding.severity.rawValue) [\(finding.rule.rawValue)] \(finding.action)/\(finding.migration) line "
            + "\(finding.line): \(finding.message)"
        if let lock = finding.lock, let table = finding.table {
            text += ": \(lock) on \(table) in \(number(item.targets)) schema\(item.targets == 1 ? "" : "s")"
        }
        return text
    }

    /// `rehearsal (throwaway cluster, 2 tenants, schema only):` then a line per shared action and tenant.
    static func rehearsalLines(_ rehearsal: Rehearsal.Result) -> [String] {
        var lines = ["rehearsal (throwaway cluster, \(rehearsal.copied)):"]
        if let error = rehearsal.error { return lines + ["  could not rehearse: \(error)"] }
        for action in rehearsal.shared where action.status != .unchanged {
            lines.append("  shared \(action.name): " + RunText.describe(action: action))
        }
        for tenant in rehearsal.tenants { lines.append("  " + rehearsed(tenant)) }
        return lines
    }

    /// `acme: ok: 0042_x 12 ms, 0043_y 40 ms; table invoices added` or `acme: FAILED at 0043_y: …`.
    static func rehearsed(_ tenant: Rehearsal.Tenant) -> String {
        let timings = tenant.applied.map { "\($0.name) \($0.durationMs) ms" }.joined(separator: ", ")
        guard tenant.status != .failed else {
            let done = timings.isEmpty ? "" : "applied \(timings), then "
            return "\(tenant.id): \(done)FAILED " + (tenant.error.map { RunText.describe(error: $0) } ?? "")
        }
        let changes = tenant.schemaChanges.isEmpty ? "" : "; " + tenant.schemaChanges.joined(separator: ", ")
        return "\(tenant.id): ok" + (timings.isEmpty ? "" : ": " + timings) + changes
    }

    /// The text review: shared actions, one line per group, the lint, the rehearsal, the totals.
    public static func text(_ review: PlanReview) -> String {
        var lines = ["plan \(review.plan.path) (sha256 \(review.plan.sha256.prefix(12)))"]
        if let error = review.error {
            return (lines + ["error: " + RunText.describe(error: error)]).joined(separator: "\n") + "\n"
        }
        lines += (review.warnings ?? []).map { "warning: " + $0 }
        let shared = review.shared.filter { $0.status != "unchanged" }
        if !shared.isEmpty {
            lines.append("shared actions:")
            for action in shared {
                let body =
                    action.error.map { "FAILED " + RunText.describe(error: $0) }
                    ?? action.changes.joined(separator: "; ")
                lines.append("  \(action.action) (\(action.schema)): \(body)")
            }
        }
        for group in review.groups {
            let mark = group.kind == .failed ? "FAILED " : group.kind == .skipped ? "skipped " : ""
            lines.append("\(mark)\(tenants(group.tenants)): \(describe(group))")
        }
        for item in review.lint { lines.append(lintLine(item)) }
        if let rehearsal = review.rehearsal { lines += rehearsalLines(rehearsal) }
        if let drift = review.drift { lines += DriftText.text(drift).split(separator: "\n").map(String.init) }
        lines.append("totals: " + totals(review.summary))
        return lines.joined(separator: "\n") + "\n"
    }
}

extension PlanText {
    /// The markdown review, made for a pull-request comment (GitHub-flavoured): a summary table,
    /// shared actions, then one collapsible `<details>` per group, and with `--sql` each pending
    /// migration's SQL in a fenced block. Every text from the database or the files is escaped.
    public static func markdown(_ review: PlanReview) -> String {
        var out = [
            "### tenantplan plan", "",
            "\(code(review.plan.path)) (sha256 \(code(String(review.plan.sha256.prefix(12)))))", "",
        ]
        if let error = review.error {
            out += ["**The plan could not be computed:** " + escape(RunText.describe(error: error)), ""]
            return out.joined(separator: "\n")
        }
        let summary = review.summary
        out += [
            "| Tenants | |", "| --- | ---: |", "| would change | \(number(summary.toChange)) |",
            "| up to date | \(number(summary.upToDate)) |", "| failed | \(number(summary.failed)) |",
            "| skipped | \(number(summary.skipped)) |", "| **total** | **\(number(summary.tenants))** |", "",
            escape(totals(summary)), "",
        ]
        if let warnings = review.warnings {
            out += warnings.flatMap { ["> **Warning:** " + escape($0), ""] }
        }
        let shared = review.shared.filter { $0.status != "unchanged" }
        if !shared.isEmpty {
            out += ["#### Shared actions", ""]
            for action in shared {
                let body =
                    action.error.map { "**failed**: " + escape(RunText.describe(error: $0)) }
                    ?? escape(action.changes.joined(separator: "; "))
                out.append("- **\(escape(action.action))** (\(escape(action.schema))): \(body)")
            }
            out.append("")
        }
        for (kind, title) in [(PlanReview.Group.Kind.changes, "Changes"), (.failed, "Failed"), (.skipped, "Skipped")] {
            let groups = review.groups.filter { $0.kind == kind }
            guard !groups.isEmpty else { continue }
            out += ["#### \(title)", ""]
            for group in groups { out += details(group) }
        }
        out += extraSections(review)
        let withSQL = review.migrations.filter { $0.sql != nil }
        if !withSQL.isEmpty {
            out += ["#### Pending migrations", ""]
            for migration in withSQL { out += details(migration) }
        }
        return out.joined(separator: "\n")
    }

    /// The lint, drift and rehearsal sections of the markdown, each a list.
    private static func extraSections(_ review: PlanReview) -> [String] {
        var out: [String] = []
        if !review.lint.isEmpty {
            out += ["#### Lint", ""]
            for item in review.lint {
                out.append("- " + escape(lintLine(item)) + "  ")
                out.append("  " + escape(item.finding.why + "; fix: " + item.finding.fix))
            }
            out.append("")
        }
        if let drift = review.drift {
            out += ["#### Drift", ""]
            for line in DriftText.text(drift).split(separator: "\n") {
                out.append("- " + escape(line.trimmingCharacters(in: .whitespaces)))
            }
            out.append("")
        }
        if let rehearsal = review.rehearsal {
            out += ["#### Rehearsal", "", escape("On a throwaway cluster, " + rehearsal.copied + ":"), ""]
            for line in rehearsalLines(rehearsal).dropFirst() {
                out.append("- " + escape(line.trimmingCharacters(in: .whitespaces)))
            }
            out.append("")
        }
        return out
    }

    private static func details(_ group: PlanReview.Group) -> [String] {
        let count = "\(number(group.tenants.count)) tenant\(group.tenants.count == 1 ? "" : "s")"
        var lines = [
            "<details>", "<summary><b>\(count)</b>: \(html(describe(group)))</summary>", "",
            escape(group.tenants.prefix(namedTenants).joined(separator: ", "))
                + (group.tenants.count > namedTenants
                    ? " … and \(number(group.tenants.count - namedTenants)) more" : ""),
            "",
        ]
        if let detail = group.error?.detail { lines += ["Detail: " + escape(detail), ""] }
        lines += ["</details>", ""]
        return lines
    }

    private static func details(_ migration: PlanReview.PendingMigration) -> [String] {
        let sql = migration.sql ?? ""
        let fence = String(repeating: "`", count: max(3, longestRun(of: "`", in: sql) + 1))
        var lines = [
            "<details>",
            "<summary><code>\(html(migration.action))/\(html(migration.name))</code>, \(number(migration.targets)) "
                + "target\(migration.targets == 1 ? "" : "s")</summary>", "", fence + "sql",
        ]
        lines.append(sql.hasSuffix("\n") ? String(sql.dropLast()) : sql)
        lines += [fence, ""]
        if migration.truncated == true { lines += ["*(cut at \(number(PlanReview.sqlLimit)) characters)*", ""] }
        lines += ["</details>", ""]
        return lines
    }

    private static func longestRun(of character: Character, in text: String) -> Int {
        var longest = 0
        var current = 0
        for scalar in text {
            current = scalar == character ? current + 1 : 0
            longest = max(longest, current)
        }
        return longest
    }

    /// Characters that can start markup anywhere in a line (emphasis, code, links, HTML, tables,
    /// strikethrough, entities).
    private static let inlineMarkup: Set<Character> = ["\\", "`", "*", "_", "[", "]", "<", ">", "&", "|", "!", "~"]

    /// Markdown text that renders as itself: markup characters backslash-escaped, and a first
    /// character that could start a block (`#`, `-`, `+`, `=`, a digit's `.`) too; lines joined.
    static func escape(_ text: String) -> String {
        var out = ""
        var digitsOnly = true  // `1.` or `1)` would start an ordered list
        for character in text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ") {
            let startsBlock = out.isEmpty && (character.isPunctuation || character.isSymbol)
            let endsListNumber = digitsOnly && !out.isEmpty && (character == "." || character == ")")
            if character.isASCII, inlineMarkup.contains(character) || startsBlock || endsListNumber {
                out.append("\\")
            }
            digitsOnly = digitsOnly && character.isASCII && character.isNumber
            out.append(character)
        }
        return out
    }

    /// Text inside an HTML tag (`<summary>`): `&`, `<`, `>` and `"` as entities, lines joined.
    static func html(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "\n", with: " ")
    }

    /// An inline code span holding `text` whatever backticks it has.
    static func code(_ text: String) -> String {
        let fence = String(repeating: "`", count: longestRun(of: "`", in: text) + 1)
        return "\(fence) \(text.replacingOccurrences(of: "\n", with: " ")) \(fence)"
    }
}
