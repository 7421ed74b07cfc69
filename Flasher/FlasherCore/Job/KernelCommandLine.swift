/// The kernel command line (`/proc/cmdline`) split into parameters the way
/// the kernel splits it: on spaces outside double quotes; the quotes
/// themselves are dropped (`a="b c"` is the parameter `a` with value `b c`).
public struct KernelCommandLine: Sendable {
    public struct Parameter: Equatable, Sendable {
        public let key: String
        /// nil for a bare word (`quiet`), "" for `key=`.
        public let value: String?
    }

    public let parameters: [Parameter]

    /// A command line longer than this is refused (the kernel's own limit
    /// is 2048–4096 bytes on the architectures the flasher runs on).
    public static let maximumLength = 65536

    public init(_ text: String) throws(FlasherError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw FlasherError(.configuration, "the command line is longer than \(Self.maximumLength) bytes")
        }
        var words: [String] = []
        var word = ""
        var inWord = false
        var quoted = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"":
                quoted.toggle()
                inWord = true
            case " ", "\t", "\n", "\r":
                if quoted {
                    word.unicodeScalars.append(scalar)
                } else {
                    if inWord { words.append(word) }
                    word = ""
                    inWord = false
                }
            case _ where scalar.value < 0x20 && scalar != "\t":
                throw FlasherError(.configuration, "a control character (0x\(String(scalar.value, radix: 16))) in the command line")
            default:
                word.unicodeScalars.append(scalar)
                inWord = true
            }
        }
        guard !quoted else { throw FlasherError(.configuration, "the command line has an unterminated double quote") }
        if inWord { words.append(word) }
        parameters = words.map { word in
            guard let equals = word.firstIndex(of: "=") else { return Parameter(key: word, value: nil) }
            return Parameter(key: String(word[..<equals]), value: String(word[word.index(after: equals)...]))
        }
    }

    /// Every value given for `key`, in order.
    public func values(of key: String) -> [String?] {
        parameters.filter { $0.key == key }.map(\.value)
    }
}
