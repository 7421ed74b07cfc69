#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A listing as JSON: `[{"name":…,"size":…,"sha256":…|null,"modified":"2026-01-02T03:04:05Z"}, …]`.
public func listingJSON(_ entries: [ArtifactEntry]) -> String {
    var text = "["
    for (index, entry) in entries.enumerated() {
        if index > 0 { text += "," }
        text += "\n  {\"name\":\(jsonString(entry.name)),\"size\":\(entry.size),"
        text += "\"sha256\":\(entry.sha256.map { "\"\($0)\"" } ?? "null"),"
        text += "\"modified\":\"\(isoTimestamp(entry.modified))\"}"
    }
    return text + (entries.isEmpty ? "]\n" : "\n]\n")
}

/// A listing for people: one artifact a line, `NAME SIZE SHA256 MODIFIED`.
func listingText(_ entries: [ArtifactEntry]) -> String {
    entries.map { "\($0.name)\t\($0.size)\t\($0.sha256 ?? "-")\t\(isoTimestamp($0.modified))\n" }.joined()
}

/// A JSON string literal, escaped.
func jsonString(_ value: String) -> String {
    var text = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": text += "\\\""
        case "\\": text += "\\\\"
        case "\n": text += "\\n"
        case "\r": text += "\\r"
        case "\t": text += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f || scalar.value == 0x2028 || scalar.value == 0x2029:
            let hex = String(scalar.value, radix: 16)
            text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: text.unicodeScalars.append(scalar)
        }
    }
    return text + "\""
}

/// `2026-01-02T03:04:05Z`
func isoTimestamp(_ seconds: Int64) -> String { ISOTime.format(seconds) }
