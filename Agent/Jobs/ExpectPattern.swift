import AgentCore

/// What the expect engine waits for in console output: a literal string or
/// a regular expression (Swift's Regex syntax, as in `try Regex("…")`).
public struct ExpectPattern: CustomStringConvertible {
    public enum Kind: Sendable { case literal, regex }

    public let kind: Kind
    public let text: String
    private let regex: Regex<AnyRegexOutput>?

    public static func literal(_ text: String) -> ExpectPattern { ExpectPattern(literal: text) }

    /// A regular expression; throws a one-line reason when it does not compile.
    public static func regex(_ text: String) throws -> ExpectPattern { try ExpectPattern(regex: text) }

    private init(literal text: String) {
        kind = .literal
        self.text = text
        regex = nil
    }

    private init(regex text: String) throws {
        kind = .regex
        self.text = text
        if let problem = ConsoleRegex.problem(text) {
            throw ExpectPatternError(pattern: String(text.prefix(60)), reason: problem)
        }
        do {
            regex = try Regex(text)
        } catch {
            throw ExpectPatternError(pattern: text, reason: "\(error)")
        }
    }

    public var description: String { kind == .literal ? "'\(text)'" : "/\(text)/" }

    /// The first match in `text`.
    func firstMatch(in text: Substring) -> Range<String.Index>? {
        switch kind {
        case .literal:
            return text.firstRange(of: self.text)
        case .regex:
            guard let regex else { return nil }
            return (try? regex.firstMatch(in: text))?.range
        }
    }
}

extension ExpectPattern: Equatable {
    /// The same kind and text (a regular expression compiles the same).
    public static func == (left: ExpectPattern, right: ExpectPattern) -> Bool {
        left.kind == right.kind && left.text == right.text
    }
}

// Regex is immutable once compiled, but not marked Sendable.
extension ExpectPattern: @unchecked Sendable {}

public struct ExpectPatternError: Error, CustomStringConvertible, Sendable {
    public let pattern: String
    public let reason: String
    public var description: String { "'\(pattern)' is not a regular expression: \(reason)" }
}
