/// The interactive shell's line editing on a raw terminal: printable
/// characters are echoed, Backspace erases, Ctrl-U clears the line, Ctrl-C
/// abandons it, Ctrl-D on an empty line leaves, Enter submits.
public struct LineEditor: Sendable {
    public enum Event: Sendable, Equatable {
        /// Bytes to echo to the terminal.
        case echo([UInt8])
        /// A finished line (without the newline).
        case submit(String)
        /// Ctrl-C: the line was dropped.
        case interrupt
        /// Ctrl-D on an empty line.
        case endOfInput
    }

    public private(set) var line: [UInt8] = []
    /// After "\r", a following "\n" belongs to the same Enter.
    private var afterCarriageReturn = false
    /// Longest line kept; more is not echoed nor stored.
    public static let maxLength = 4096

    public init() {}

    /// Feeds one byte; the event it causes, if any.
    public mutating func feed(_ byte: UInt8) -> Event? {
        defer { afterCarriageReturn = byte == 0x0D }
        switch byte {
        case 0x0D, 0x0A:
            if byte == 0x0A && afterCarriageReturn { return nil }
            let text = String(decoding: line, as: UTF8.self)
            line.removeAll()
            return .submit(text)
        case 0x7F, 0x08:
            guard !line.isEmpty else { return nil }
            // Remove a whole UTF-8 character: continuation bytes first.
            while let last = line.popLast(), last & 0xC0 == 0x80 {}
            return .echo([0x08, 0x20, 0x08])
        case 0x03:
            line.removeAll()
            return .interrupt
        case 0x04:
            return line.isEmpty ? .endOfInput : nil
        case 0x15:
            let count = String(decoding: line, as: UTF8.self).count
            line.removeAll()
            return count == 0 ? nil : .echo(Array(repeating: [0x08, 0x20, 0x08], count: count).flatMap { $0 })
        case 0x09:
            return feed(0x20)
        default:
            guard byte >= 0x20, line.count < Self.maxLength else { return nil }
            line.append(byte)
            return .echo([byte])
        }
    }
}
