/// The lab shell's line editing on a raw terminal: printable characters are
/// echoed, Backspace erases, Ctrl-U clears the line, Ctrl-C abandons it,
/// Ctrl-D on an empty line leaves, Enter submits. (The agent's shell has the
/// same editor; see CommandWords about sharing them.)
struct LineEditor: Sendable {
    enum Event: Sendable, Equatable {
        case echo([UInt8])
        case submit(String)
        case interrupt
        case endOfInput
    }

    private(set) var line: [UInt8] = []
    private var afterCarriageReturn = false
    static let maxLength = 4096

    mutating func feed(_ byte: UInt8) -> Event? {
        defer { afterCarriageReturn = byte == 0x0D }
        switch byte {
        case 0x0D, 0x0A:
            if byte == 0x0A && afterCarriageReturn { return nil }
            let text = String(decoding: line, as: UTF8.self)
            line.removeAll()
            return .submit(text)
        case 0x7F, 0x08:
            guard !line.isEmpty else { return nil }
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
