import AgentCore
import SystemSupport
import Wire

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

    /// As the manifest lists it. With a bmap, its range checksums check
    /// every block written, and the read-back checks them again: hashing
    /// the whole file as well would only take CPU from the board's
    /// decompressor, so no `file_sha256` then.
    var manifestImage: JobManifestReport.Image {
        JobManifestReport.Image(name: name, url: url, target: target, fileSHA256: bmapURL == nil ? sha256 : nil, size: size,
                          bmap: bmapURL, compression: compression)
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

/// Runs a flash (`FlashStateMachine`): the job's manifest on the agent's
/// HTTP port, power → U-Boot → TFTP the flasher → boot it → its events
/// (inventory, progress, success or error) → reboot → the success pattern.
/// Each step timed, logged, cancellable.
public final class FlashJob {
    public let board: any BoardHandle
    public let request: FlashRequest
    private let api: JobAPI
    private let report: (String) -> Void
    private let progress: (FlashProgress) -> Void
    private let isCancelled: @Sendable () -> Bool
    private let startedAt = monotonicSeconds()

    /// What the flasher reported of the board before it wrote.
    public private(set) var inventory: InventoryReport?
    /// The images' bytes the flasher wrote (0 until it said).
    public private(set) var bytesWritten: Int64 = 0
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
        let secret = JobAPI.makeSecret()
        let manifest = JobManifestReport(images: request.images.map(\.manifestImage), verify: request.verify, secret: secret)
        let id = api.register(manifest: Array(Wire.line(manifest).utf8), secret: secret, boardAddress: network.boardIP)
        defer { api.remove(id) }
        let jobURL = network.httpURL + JobAPI.prefix + id
        board.console.note("flash by \(request.user): " + request.images.map { "\($0.name) → \($0.target)" }.joined(separator: ", "))

        // Attached before power, so no output is missed.
        let uboot = UBootDriver(board: board, isCancelled: isCancelled)
        defer { uboot.detach() }
        let config = board.config
        var machine = FlashStateMachine(request: request, profile: config.uboot, network: network, board: config.name,
                                        baud: config.serial.baud, jobURL: jobURL)
        let flasher = FlasherFeed(api: api, id: id)
        let runner = JobRunner(driver: uboot, steps: steps, report: report, progress: progress, flasher: flasher,
                               isCancelled: isCancelled)
        do throws(JobFailure) {
            defer {
                inventory = flasher.inventory
                bytesWritten = flasher.bytesWritten
            }
            try runner.run(&machine)
        } catch {
            board.console.note("flash by \(request.user): \(error.step) failed: \(error.reason)")
            throw error
        }
        board.console.note("flash by \(request.user): done in \(seconds(monotonicSeconds() - startedAt))")
    }
}

extension JobFailure {
    init(cancelled reason: String) {
        self.init(reason: reason)
        cancelled = true
    }
}
