import Foundation

/// One event the flasher posted to its job (`POST /api/v1/jobs/ID/events`),
/// read once, here, into what the flash job acts on. The user's lines are
/// made here too.
enum FlasherEvent: Equatable {
    /// What it found on the board before writing: a one-line summary.
    case inventory(String)
    case progress(FlashProgress)
    /// An image was written: what to tell the user.
    case imageDone(String)
    /// Everything written (and verified, when asked).
    case success
    /// It failed and stays in a shell on the console: why.
    case error(String)
    /// Anything else, with the message to show, if it had one.
    case other(message: String?)

    init(_ event: [String: Any]) {
        let kind = (event["event"] ?? event["type"]) as? String ?? ""
        switch kind {
        case "inventory":
            self = .inventory(Self.inventoryLine(event))
        case "progress":
            self = .progress(FlashProgress(event))
        case "image_done":
            let image = event["image"] as? String ?? "image"
            let bytes = (event["bytes"] as? NSNumber)?.int64Value ?? 0
            let written = (event["bytes_written"] as? NSNumber)?.int64Value ?? bytes
            let verified = event["verified"] as? Bool ?? false
            func size(_ count: Int64) -> String { count >= 1 << 20 ? "\(count >> 20) MiB" : "\(count) bytes" }
            // No image SHA-256 with a bmap: its range checksums were the check.
            let checked = (event["sha256"] as? String).map { "sha256 \($0)" } ?? "bmap checksums match"
            let amount = written == bytes ? "\(size(bytes)) written" : "\(size(bytes)) image, \(size(written)) written"
            self = .imageDone("\(image): \(amount), \(checked)\(verified ? ", verified" : "")")
        case "success", "done":
            self = .success
        case "error":
            let phase = event["phase"] as? String ?? "?"
            let what = (event["what"] ?? event["message"]) as? String ?? "failed"
            var reason = "the flasher failed in \(phase): \(what)"
            if let errno = event["errno"] as? String { reason += " (\(errno))" }
            if let offset = event["offset"] as? Int { reason += " at byte \(offset)" }
            self = .error(reason)
        default:
            self = .other(message: event["message"] as? String)
        }
    }

    private static func inventoryLine(_ event: [String: Any]) -> String {
        var parts: [String] = []
        if let memory = (event["memory_bytes"] as? NSNumber)?.int64Value { parts.append("memory \(memory >> 20) MiB") }
        if let devices = event["block_devices"] as? [[String: Any]], !devices.isEmpty {
            parts.append("storage " + devices.map { device in
                "\(device["name"] ?? "?") \(((device["bytes"] as? NSNumber)?.int64Value ?? 0) >> 20) MiB"
            }.joined(separator: ", "))
        }
        if let interfaces = event["interfaces"] as? [[String: Any]], !interfaces.isEmpty {
            parts.append("net " + interfaces.map { "\($0["name"] ?? "?") \($0["mac"] ?? "?")" }.joined(separator: ", "))
        }
        if let serial = event["serial"] as? String { parts.append("serial \(serial)") }
        return parts.isEmpty ? "inventory received" : parts.joined(separator: "; ")
    }
}

/// One progress event of the flasher.
public struct FlashProgress: Sendable, Equatable {
    public var phase: String
    public var image: String?
    public var done: Int64
    public var total: Int64?
    /// MB/s as the flasher measured it.
    public var rate: Double?

    init(_ event: [String: Any]) {
        phase = event["phase"] as? String ?? "?"
        image = (event["image"] ?? event["name"]) as? String
        done = ((event["bytes_done"] ?? event["done"]) as? NSNumber)?.int64Value ?? 0
        total = ((event["bytes_total"] ?? event["total"]) as? NSNumber)?.int64Value
        rate = ((event["rate"] ?? event["mbps"] ?? event["mb_per_s"]) as? NSNumber)?.doubleValue
    }

    /// `write rootfs [#########.........] 45% 123.4 MB/s ETA 0:12`
    public var line: String {
        var text = phase + (image.map { " \($0)" } ?? "")
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let filled = Int(fraction * 20)
            text += " [" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled) + "]"
            text += " \(Int(fraction * 100))%"
            if let rate, rate > 0 {
                let left = Int(Double(total - done) / (rate * 1_000_000))
                text += " \((rate * 10).rounded() / 10) MB/s ETA \(left / 60):" + (left % 60 < 10 ? "0" : "") + "\(left % 60)"
            }
        } else {
            text += " \(done / 1_000_000) MB"
            if let rate { text += " \((rate * 10).rounded() / 10) MB/s" }
        }
        return text
    }
}
