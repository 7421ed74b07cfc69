import Wire

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

    init(_ event: FlasherEventReport) {
        switch event.type {
        case "inventory":
            self = .inventory(Self.inventoryLine(InventoryReport(event)))
        case "progress":
            self = .progress(FlashProgress(event))
        case "image_done":
            let image = event.image ?? "image"
            let bytes = event.bytes ?? 0
            let written = event.bytesWritten ?? bytes
            func size(_ count: Int64) -> String { count >= 1 << 20 ? "\(count >> 20) MiB" : "\(count) bytes" }
            // No image SHA-256 with a bmap: its range checksums were the check.
            let checked = event.sha256.map { "sha256 \($0)" } ?? "bmap checksums match"
            let amount = written == bytes ? "\(size(bytes)) written" : "\(size(bytes)) image, \(size(written)) written"
            self = .imageDone("\(image): \(amount), \(checked)\(event.verified == true ? ", verified" : "")")
        case "success", "done":
            self = .success
        case "error":
            var reason = "the flasher failed in \(event.phase ?? "?"): \(event.what ?? event.message ?? "failed")"
            if let errno = event.errno { reason += " (\(errno))" }
            if let offset = event.offset { reason += " at byte \(offset)" }
            self = .error(reason)
        default:
            self = .other(message: event.message)
        }
    }

    private static func inventoryLine(_ inventory: InventoryReport) -> String {
        var parts: [String] = []
        if let memory = inventory.memoryBytes { parts.append("memory \(memory >> 20) MiB") }
        if !inventory.blockDevices.isEmpty {
            parts.append("storage " + inventory.blockDevices.map { "\($0.name) \($0.bytes >> 20) MiB" }.joined(separator: ", "))
        }
        if !inventory.interfaces.isEmpty {
            parts.append("net " + inventory.interfaces.map { "\($0.name) \($0.mac)" }.joined(separator: ", "))
        }
        if let serial = inventory.serial { parts.append("serial \(serial)") }
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

    public init(phase: String, image: String? = nil, done: Int64, total: Int64? = nil, rate: Double? = nil) {
        self.phase = phase
        self.image = image
        self.done = done
        self.total = total
        self.rate = rate
    }

    /// Its counts are checked where the event is read: none is negative
    /// or above 2^53, the rate is finite.
    init(_ event: FlasherEventReport) {
        self.init(phase: event.phase ?? "?", image: event.image, done: event.bytesDone ?? 0, total: event.bytesTotal,
                  rate: event.megabytesPerSecond)
    }

    /// `write rootfs [#########.........] 45% 123.4 MB/s ETA 0:12`
    public var line: String {
        var text = phase + (image.map { " \($0)" } ?? "")
        if let total, total > 0 {
            // Clamped, and subtracted as doubles: any Int64 may come through `init`.
            let fraction = min(1, max(0, Double(done) / Double(total)))
            let filled = Int(fraction * 20)
            text += " [" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled) + "]"
            text += " \(Int(fraction * 100))%"
            // Under a day left, or no ETA: a rate of 1e-300 MB/s is not one.
            if let rate, rate > 0, case let seconds = max(0, Double(total) - Double(done)) / (rate * 1_000_000), seconds < 86_400 {
                let left = Int(seconds)
                text += " \((rate * 10).rounded() / 10) MB/s ETA \(left / 60):" + (left % 60 < 10 ? "0" : "") + "\(left % 60)"
            }
        } else {
            text += " \(done / 1_000_000) MB"
            if let rate { text += " \((rate * 10).rounded() / 10) MB/s" }
        }
        return text
    }
}
