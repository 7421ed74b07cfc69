import AgentCore
import Foundation

/// One image the flasher writes, as the manifest names it.
public struct FlashImage: Sendable {
    public var name: String
    public var url: String
    /// Of the file at `url` (the upload's sidecar): the manifest's `file_sha256`.
    public var sha256: String?
    public var size: UInt64?
    public var bmapURL: String?
    public var target: String
    /// none, gzip, xz or zstd; nil: the flasher detects it from the first bytes.
    public var compression: String?

    public init(name: String, url: String, sha256: String?, size: UInt64?, bmapURL: String?, target: String,
                compression: String? = nil) {
        self.name = name
        self.url = url
        self.sha256 = sha256
        self.size = size
        self.bmapURL = bmapURL
        self.target = target
        self.compression = compression
    }

    var json: [String: Any] {
        var object: [String: Any] = ["name": name, "url": url, "target": target]
        // With a bmap, its range checksums check every block written, and the
        // read-back checks them again: hashing the whole file as well would
        // only take CPU from the board's decompressor.
        if let sha256, bmapURL == nil { object["file_sha256"] = sha256 }
        if let size { object["size"] = size }
        if let bmapURL { object["bmap"] = bmapURL }
        if let compression { object["compression"] = compression }
        return object
    }
}

public struct FlashRequest: Sendable {
    public var user: String
    public var images: [FlashImage]
    public var verify: Bool
    /// TFTP names of the flasher's kernel and initramfs (`shared/flasher-amd64/bzImage`).
    public var flasherKernel: String
    public var flasherInitrd: String
    /// For a `bootm` board: the flasher as one FIT image (kernel and
    /// initramfs, each hashed), booted instead of the two files.
    public var flasherFIT: String?
    /// What the flashed system prints once up; nil: its U-Boot coming back is enough.
    public var success: ExpectPattern?
    /// The whole job, power to success.
    public var timeout: Double

    public init(user: String, images: [FlashImage], verify: Bool, flasherKernel: String, flasherInitrd: String,
                success: ExpectPattern?, timeout: Double) {
        self.user = user
        self.images = images
        self.verify = verify
        self.flasherKernel = flasherKernel
        self.flasherInitrd = flasherInitrd
        self.success = success
        self.timeout = timeout
    }
}

/// The flash state machine (DESIGN.md, Jobs): the job's manifest on the
/// agent's HTTP port, power → U-Boot → TFTP the flasher → boot it → its
/// events (inventory, progress, success or error) → reboot → the success
/// pattern. Each step timed, logged, cancellable.
public final class FlashJob {
    public let board: any BoardHandle
    public let request: FlashRequest
    private let api: JobAPI
    private let report: (String) -> Void
    private let progress: (FlashProgress) -> Void
    private let isCancelled: @Sendable () -> Bool
    private let startedAt = monotonicNow()

    /// What the flasher reported of the board before it wrote.
    public private(set) var inventory: [String: Any]?
    /// The steps as they ran, with their durations.
    public let steps: JobSteps

    public init(board: any BoardHandle, request: FlashRequest, api: JobAPI, report: @escaping (String) -> Void,
                progress: @escaping (FlashProgress) -> Void, isCancelled: @escaping @Sendable () -> Bool) {
        self.board = board
        self.request = request
        self.api = api
        self.report = report
        steps = JobSteps(kind: "flash", board: board, report: report)
        self.progress = progress
        self.isCancelled = isCancelled
    }

    public func run() throws(JobFailure) {
        guard let network = board.config.network else {
            throw JobFailure(reason: "\(board.config.name) has no network block in agent.yaml: the flasher needs board_ip and http_url")
        }
        let manifest: [String: Any] = ["images": request.images.map(\.json), "verify": request.verify, "after": "reboot"]
        let body = (try? JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])).map { Array($0) } ?? []
        let id = api.register(manifest: body)
        defer { api.remove(id) }
        let jobURL = network.httpURL + JobAPI.prefix + id
        board.console.note("flash by \(request.user): " + request.images.map { "\($0.name) → \($0.target)" }.joined(separator: ", "))

        let uboot = UBootDriver(board: board, isCancelled: isCancelled)
        defer { uboot.detach() }
        let profile = uboot.profile
        do throws(JobFailure) {
            try step("power") { () throws(JobFailure) in try uboot.powerUp() }
            try step("U-Boot prompt") { () throws(JobFailure) in try uboot.reachPrompt() }
            for preboot in profile.preboot {
                try step("preboot '\(preboot)'") { () throws(JobFailure) in try uboot.command(preboot) }
            }
            try step("environment") { () throws(JobFailure) in
                try uboot.setNetwork(network)
                var arguments: [String] = []
                if let console = profile.linuxConsole { arguments.append("console=\(console),\(board.config.serial.baud)") }
                arguments.append("provisioner.job=\(jobURL)")
                arguments.append("ip=\(network.boardIP)::\(network.gateway ?? network.serverIP):\(network.netmask)")
                arguments.append("quiet")
                try uboot.command("setenv bootargs '\(arguments.joined(separator: " "))'")
            }
            if let fit = request.flasherFIT {
                try step("tftp flasher") { () throws(JobFailure) in _ = try uboot.load(fit, at: profile.kernelAddress) }
                try step("boot the flasher") { () throws(JobFailure) in try uboot.bootFIT() }
            } else {
                try step("tftp flasher") { () throws(JobFailure) in
                    _ = try uboot.load(request.flasherKernel, at: profile.kernelAddress)
                    _ = try uboot.load(request.flasherInitrd, at: profile.ramdiskAddress)
                    try uboot.command("setenv provisioner_initrd_size ${filesize}")
                }
                try step("boot the flasher") { () throws(JobFailure) in
                    try uboot.boot(initrdSize: "${provisioner_initrd_size}", withFDT: false)
                }
            }
            try step("flasher") { () throws(JobFailure) in try followFlasher(id) }
            try step("reboot into the image") { () throws(JobFailure) in
                let patterns = [request.success ?? .literal(profile.autoboot)]
                _ = try uboot.wait(for: patterns, fail: [.literal("Kernel panic")], timeout: max(60, remaining))
            }
        } catch {
            board.console.note("flash by \(request.user): \(error.step) failed: \(error.reason)")
            throw error
        }
        board.console.note("flash by \(request.user): done in \(seconds(monotonicNow() - startedAt))")
    }

    private var remaining: Double { request.timeout - (monotonicNow() - startedAt) }

    /// The flasher's events until success or error; fails when it falls
    /// silent for a minute or the job's time runs out.
    private func followFlasher(_ id: String) throws(JobFailure) {
        var lastEvent = monotonicNow()
        while true {
            if isCancelled() { throw JobFailure(cancelled: "cancelled while the flasher ran") }
            guard remaining > 0 else { throw JobFailure(reason: "the job took longer than \(seconds(request.timeout))") }
            guard let event = api.nextEvent(of: id, timeout: 0.5) else {
                let silence = monotonicNow() - lastEvent
                if silence > (api.wasFetched(id) ? 60 : 180) {
                    throw JobFailure(reason: api.wasFetched(id) ? "the flasher fell silent for a minute"
                                                                : "the flasher never fetched its job (did it boot, is network.http_url right?)")
                }
                continue
            }
            lastEvent = monotonicNow()
            let kind = (event["event"] ?? event["type"]) as? String ?? ""
            switch kind {
            case "inventory":
                inventory = event
                report("flasher: " + inventoryLine(event))
            case "progress":
                progress(FlashProgress(event))
            case "image_done":
                let image = event["image"] as? String ?? "image"
                let bytes = (event["bytes"] as? NSNumber)?.int64Value ?? 0
                let written = (event["bytes_written"] as? NSNumber)?.int64Value ?? bytes
                let verified = event["verified"] as? Bool ?? false
                func size(_ count: Int64) -> String { count >= 1 << 20 ? "\(count >> 20) MiB" : "\(count) bytes" }
                // No image SHA-256 with a bmap: its range checksums were the check.
                let checked = (event["sha256"] as? String).map { "sha256 \($0)" } ?? "bmap checksums match"
                let amount = written == bytes ? "\(size(bytes)) written" : "\(size(bytes)) image, \(size(written)) written"
                report("flasher: \(image): \(amount), \(checked)\(verified ? ", verified" : "")")
            case "success", "done":
                report("flasher: written and verified")
                return
            case "error":
                let phase = event["phase"] as? String ?? "?"
                let what = (event["what"] ?? event["message"]) as? String ?? "failed"
                var reason = "the flasher failed in \(phase): \(what)"
                if let errno = event["errno"] as? String { reason += " (\(errno))" }
                if let offset = event["offset"] as? Int { reason += " at byte \(offset)" }
                throw JobFailure(reason: reason)
            default:
                if let message = event["message"] as? String { report("flasher: \(message)") }
            }
        }
    }

    private func inventoryLine(_ event: [String: Any]) -> String {
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

    private func step(_ name: String, _ body: () throws(JobFailure) -> Void) throws(JobFailure) {
        try steps.run(name, body)
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

extension JobFailure {
    init(cancelled reason: String) {
        self.init(reason: reason)
        cancelled = true
    }
}
