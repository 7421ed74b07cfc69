/// Command lines as words, for the agent's and the coordinator's shells.
/// `split` reads what a user sent the way a POSIX shell would for simple
/// cases: blanks separate words, '…' and "…" quote, a backslash escapes the
/// next character; no variables, globs or operators. `quote` writes words
/// back so that `split` gets them unchanged (the coordinator → agent hop).
public enum ShellWords {
    /// A command line `split` cannot read; `message` is one line for the user.
    public struct SyntaxError: Error, Equatable, Sendable {
        public let message: String
        public init(message: String) { self.message = message }
    }

    public static func split(_ line: String) throws(SyntaxError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t", "\n", "\r":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'", "\"":
                quote = character
                inWord = true
            case "\\":
                escaped = true
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw SyntaxError(message: "unterminated quote in the command line") }
        if escaped { throw SyntaxError(message: "the command line ends with a backslash") }
        if inWord { words.append(current) }
        return words
    }

    /// A word as `split` reads it back: bare when it is plain, else in single
    /// quotes (a quote inside written as '\'').
    public static func quote(_ word: String) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { scalar in
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || "-_./:=@,+%".unicodeScalars.contains(scalar)
        }
        if plain { return word }
        var quoted = "'"
        for character in word {
            quoted += character == "'" ? "'\\''" : String(character)
        }
        return quoted + "'"
    }
}
