/// Splits a command line into words as a POSIX shell would for simple
/// cases: blanks separate words, '…' and "…" quote, a backslash escapes the
/// next character. No variables, globs or operators.
public enum ShellWords {
    public static func split(_ line: String) throws(ShellError) -> [String] {
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
}
