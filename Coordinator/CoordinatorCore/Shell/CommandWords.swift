import Foundation

/// Command lines as words. `split` reads what a user sent the way a POSIX
/// shell would for simple cases (blanks separate, '…' and "…" quote, a
/// backslash escapes); `quote` writes words back so that the agent's
/// splitting (the same rules) gets them unchanged.
///
/// The agent has the same splitting (Agent/AgentShell/ShellWords.swift);
/// both belong in one shared module once the agent's shell is moved there.
public enum CommandWords {
    public static func split(_ line: String) throws(CommandError) -> [String] {
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
        if quote != nil { throw .usage("unterminated quote in the command line") }
        if escaped { throw .usage("the command line ends with a backslash") }
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
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
