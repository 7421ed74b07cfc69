import Foundation

/// Compares what a client fetched with what the server had, byte for byte.
public enum ByteComparison {
    /// nil when the file at `path` holds exactly `expected`; otherwise what differs
    /// (missing file, sizes, the first differing offset).
    public static func difference(between expected: Data, andFileAt path: String) -> String? {
        guard let actual = FileManager.default.contents(atPath: path) else { return "\(path) does not exist" }
        return difference(expected: expected, actual: actual, name: path)
    }

    public static func difference(expected: Data, actual: Data, name: String = "the fetched file") -> String? {
        if expected == actual { return nil }
        let common = min(expected.count, actual.count)
        let offset = expected.withUnsafeBytes { e in
            actual.withUnsafeBytes { a -> Int in
                var chunkStart = 0
                while chunkStart < common {  // memcmp per chunk, then bytes: fast on tens of MiB
                    let length = min(1 << 16, common - chunkStart)
                    if memcmp(e.baseAddress! + chunkStart, a.baseAddress! + chunkStart, length) != 0 {
                        for index in chunkStart..<(chunkStart + length) where e[index] != a[index] { return index }
                    }
                    chunkStart += length
                }
                return common
            }
        }
        var text = "\(name): \(actual.count) bytes, expected \(expected.count)"
        if offset < common {
            text += "; first difference at offset \(offset) (block \(offset / 512 + 1) at 512 bytes)"
        } else {
            text += "; identical for the first \(common) bytes"
        }
        return text
    }
}
