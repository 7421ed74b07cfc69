/// Text for a shell's client: on a terminal (`ssh -t`) no line discipline
/// runs on the server's side, so "\n" goes out as "\r\n"; tables are padded
/// columns.
public enum TerminalText {
    /// `text` as bytes, "\n" made "\r\n" when `terminal` (an existing "\r\n" kept).
    public static func bytes(_ text: String, terminal: Bool) -> [UInt8] {
        guard terminal else { return Array(text.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 8)
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == 0x0A && previous != 0x0D { bytes.append(0x0D) }
            bytes.append(byte)
            previous = byte
        }
        return bytes
    }

    /// Columns padded to their widest cell, two spaces apart, one line a row.
    public static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == columns - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[column] - cell.count))
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
