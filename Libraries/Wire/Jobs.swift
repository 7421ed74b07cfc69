import Foundation

/// The JSON of a flash job: the manifest the agent serves the flasher, the
/// events the flasher posts back, and the finished job as `jobs --json`
/// shows it (docs/json.md). The flasher has no Foundation and reads and
/// writes these with its own parser (`Flasher/FlasherCore/Job`); these
/// types are the agent's side and the reference for the field names.

/// A flash job's manifest, `GET /api/v1/jobs/ID`.
public struct JobManifestReport: Codable, Sendable, Equatable {
    public struct Image: Codable, Sendable, Equatable {
        public var name: String
        public var url: String
        /// `/dev/X`, `/dev/X:/path` or an absolute file path.
        public var target: String
        /// Of the file at `url`, as downloaded.
        public var fileSHA256: String?
        /// Of the image as written (decompressed).
        public var sha256: String?
        /// Decompressed size in bytes.
        public var size: UInt64?
        /// URL of a bmaptool block map.
        public var bmap: String?
        /// `none`, `gzip`, `xz` or `zstd`; absent: detected.
        public var compression: String?

        public init(name: String, url: String, target: String, fileSHA256: String? = nil, sha256: String? = nil,
                    size: UInt64? = nil, bmap: String? = nil, compression: String? = nil) {
            self.name = name
            self.url = url
            self.target = target
            self.fileSHA256 = fileSHA256
            self.sha256 = sha256
            self.size = size
            self.bmap = bmap
            self.compression = compression
        }

        enum CodingKeys: String, CodingKey {
            case name, url, target, fileSHA256 = "file_sha256", sha256, size, bmap, compression
        }
    }

    public var images: [Image]
    public var verify: Bool
    /// `reboot`, `poweroff` or `stay`.
    public var after: String
    /// The job's credential: the flasher sends it with every event
    /// (`Authorization: Bearer SECRET`). Only here, in a manifest served
    /// once, never on the console or in a log.
    public var secret: String?

    public init(images: [Image], verify: Bool, after: String = "reboot", secret: String? = nil) {
        self.images = images
        self.verify = verify
        self.after = after
        self.secret = secret
    }

    enum CodingKeys: String, CodingKey { case version = "v", images, verify, after, secret }

    public init(from decoder: any Decoder) throws {
        let manifest = try decoder.container(keyedBy: CodingKeys.self)
        _ = try manifest.wireVersion(.version)
        images = try manifest.decode([Image].self, forKey: .images)
        verify = try manifest.decodeIfPresent(Bool.self, forKey: .verify) ?? true
        after = try manifest.decodeIfPresent(String.self, forKey: .after) ?? "reboot"
        secret = try manifest.decodeIfPresent(String.self, forKey: .secret)
    }

    public func encode(to encoder: any Encoder) throws {
        var manifest = encoder.container(keyedBy: CodingKeys.self)
        try manifest.encode(Wire.version, forKey: .version)
        try manifest.encode(images, forKey: .images)
        try manifest.encode(verify, forKey: .verify)
        try manifest.encode(after, forKey: .after)
        try manifest.encodeIfPresent(secret, forKey: .secret)
    }
}

/// One event the flasher posts, `POST /api/v1/jobs/ID/events`: every field
/// any kind of event has, each optional. Read leniently, because a flasher
/// image may be older or newer than the agent: the kind is `type` (or
/// `event`), a few fields have the older names the agent always accepted,
/// and a field of the wrong type, or a number out of its range (a negative
/// count, a rate of `1e-300`, `2^63` bytes), reads as absent rather than
/// failing the event or trapping later.
public struct FlasherEventReport: Codable, Sendable, Equatable {
    public struct BlockDevice: Codable, Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        public var removable: Bool

        public init(name: String, bytes: Int64, removable: Bool = false) {
            self.name = name
            self.bytes = bytes
            self.removable = removable
        }

        enum CodingKeys: String, CodingKey { case name, bytes, removable }

        public init(from decoder: any Decoder) throws {
            let device = try decoder.container(keyedBy: CodingKeys.self)
            name = device.lenient(String.self, .name) ?? "?"
            bytes = device.count(.bytes) ?? 0
            removable = device.lenient(Bool.self, .removable) ?? false
        }
    }

    public struct NetworkInterface: Codable, Sendable, Equatable {
        public var name: String
        public var mac: String

        public init(name: String, mac: String) {
            self.name = name
            self.mac = mac
        }

        enum CodingKeys: String, CodingKey { case name, mac }

        public init(from decoder: any Decoder) throws {
            let interface = try decoder.container(keyedBy: CodingKeys.self)
            name = interface.lenient(String.self, .name) ?? "?"
            mac = interface.lenient(String.self, .mac) ?? "?"
        }
    }

    /// `inventory`, `image`, `progress`, `image_done`, `success` (or
    /// `done`), `error`, or a kind this agent does not know.
    public var type: String
    /// Seconds since the flasher began.
    public var elapsed: Double?
    public var message: String?
    // inventory
    public var memoryBytes: Int64?
    public var blockDevices: [BlockDevice]?
    public var interfaces: [NetworkInterface]?
    public var serial: String?
    // image, progress, image_done, error
    public var image: String?
    public var url: String?
    public var target: String?
    public var phase: String?
    public var bytesDone: Int64?
    public var bytesTotal: Int64?
    /// MB/s (10^6 bytes).
    public var megabytesPerSecond: Double?
    public var downloadedBytes: Int64?
    public var sha256: String?
    public var bytes: Int64?
    public var bytesWritten: Int64?
    public var compression: String?
    public var seconds: Double?
    public var verified: Bool?
    public var resumptions: Int64?
    // success
    public var after: String?
    // error
    public var what: String?
    public var errno: String?
    public var errnoCode: Int64?
    public var offset: Int64?

    public init(type: String) {
        self.type = type
    }

    /// A count above this is not believed: JSON numbers are doubles, which
    /// hold every integer up to 2^53, and no board has 8 PiB.
    public static let largestCount: Int64 = 1 << 53
    /// A rate above this (MB/s) is not believed.
    public static let largestRate = 1_000_000.0
    /// A time above this (seconds, a year) is not believed.
    public static let longestTime = 365.0 * 86_400

    enum CodingKeys: String, CodingKey {
        case type, event, elapsed, message
        case memoryBytes = "memory_bytes", blockDevices = "block_devices", interfaces, serial
        case image, name, url, target, phase
        case bytesDone = "bytes_done", done, bytesTotal = "bytes_total", total
        case megabytesPerSecond = "mb_per_s", rate, mbps
        case downloadedBytes = "downloaded_bytes", sha256, bytes, bytesWritten = "bytes_written", compression, seconds
        case verified, resumptions, after, what, errno, errnoCode = "errno_code", offset
    }

    public init(from decoder: any Decoder) throws {
        let event = try decoder.container(keyedBy: CodingKeys.self)
        type = event.lenient(String.self, .type) ?? event.lenient(String.self, .event) ?? ""
        elapsed = event.measure(.elapsed, upTo: Self.longestTime)
        message = event.lenient(String.self, .message)
        memoryBytes = event.count(.memoryBytes)
        blockDevices = event.lenient([BlockDevice].self, .blockDevices)
        interfaces = event.lenient([NetworkInterface].self, .interfaces)
        serial = event.lenient(String.self, .serial)
        image = event.lenient(String.self, .image) ?? event.lenient(String.self, .name)
        url = event.lenient(String.self, .url)
        target = event.lenient(String.self, .target)
        phase = event.lenient(String.self, .phase)
        bytesDone = event.count(.bytesDone) ?? event.count(.done)
        bytesTotal = event.count(.bytesTotal) ?? event.count(.total)
        megabytesPerSecond = event.measure(.megabytesPerSecond, upTo: Self.largestRate)
            ?? event.measure(.rate, upTo: Self.largestRate) ?? event.measure(.mbps, upTo: Self.largestRate)
        downloadedBytes = event.count(.downloadedBytes)
        sha256 = event.lenient(String.self, .sha256)
        bytes = event.count(.bytes)
        bytesWritten = event.count(.bytesWritten)
        compression = event.lenient(String.self, .compression)
        seconds = event.measure(.seconds, upTo: Self.longestTime)
        verified = event.lenient(Bool.self, .verified)
        resumptions = event.count(.resumptions)
        after = event.lenient(String.self, .after)
        what = event.lenient(String.self, .what)
        errno = event.lenient(String.self, .errno)
        errnoCode = event.count(.errnoCode)
        offset = event.count(.offset)
    }

    /// The names the flasher writes today (docs/json.md), absent fields left out.
    public func encode(to encoder: any Encoder) throws {
        var event = encoder.container(keyedBy: CodingKeys.self)
        try event.encode(type, forKey: .type)
        try event.encodeIfPresent(elapsed, forKey: .elapsed)
        try event.encodeIfPresent(message, forKey: .message)
        try event.encodeIfPresent(memoryBytes, forKey: .memoryBytes)
        try event.encodeIfPresent(blockDevices, forKey: .blockDevices)
        try event.encodeIfPresent(interfaces, forKey: .interfaces)
        try event.encodeIfPresent(serial, forKey: .serial)
        try event.encodeIfPresent(image, forKey: .image)
        try event.encodeIfPresent(url, forKey: .url)
        try event.encodeIfPresent(target, forKey: .target)
        try event.encodeIfPresent(phase, forKey: .phase)
        try event.encodeIfPresent(bytesDone, forKey: .bytesDone)
        try event.encodeIfPresent(bytesTotal, forKey: .bytesTotal)
        try event.encodeIfPresent(megabytesPerSecond, forKey: .megabytesPerSecond)
        try event.encodeIfPresent(downloadedBytes, forKey: .downloadedBytes)
        try event.encodeIfPresent(sha256, forKey: .sha256)
        try event.encodeIfPresent(bytes, forKey: .bytes)
        try event.encodeIfPresent(bytesWritten, forKey: .bytesWritten)
        try event.encodeIfPresent(compression, forKey: .compression)
        try event.encodeIfPresent(seconds, forKey: .seconds)
        try event.encodeIfPresent(verified, forKey: .verified)
        try event.encodeIfPresent(resumptions, forKey: .resumptions)
        try event.encodeIfPresent(after, forKey: .after)
        try event.encodeIfPresent(what, forKey: .what)
        try event.encodeIfPresent(errno, forKey: .errno)
        try event.encodeIfPresent(errnoCode, forKey: .errnoCode)
        try event.encodeIfPresent(offset, forKey: .offset)
    }
}

/// What the flasher found on the board before it wrote, as `jobs --json`
/// keeps it: the inventory event's fields.
public struct InventoryReport: Codable, Sendable, Equatable {
    public var memoryBytes: Int64?
    public var blockDevices: [FlasherEventReport.BlockDevice]
    public var interfaces: [FlasherEventReport.NetworkInterface]
    public var serial: String?
    public var elapsed: Double?

    public init(_ event: FlasherEventReport) {
        memoryBytes = event.memoryBytes
        blockDevices = event.blockDevices ?? []
        interfaces = event.interfaces ?? []
        serial = event.serial
        elapsed = event.elapsed
    }

    enum CodingKeys: String, CodingKey {
        case type, memoryBytes = "memory_bytes", blockDevices = "block_devices", interfaces, serial, elapsed
    }

    public init(from decoder: any Decoder) throws {
        self.init(try FlasherEventReport(from: decoder))
    }

    /// As the flasher sent it: `type` is `inventory`, `memory_bytes` and
    /// `serial` are `null` when unknown.
    public func encode(to encoder: any Encoder) throws {
        var inventory = encoder.container(keyedBy: CodingKeys.self)
        try inventory.encode("inventory", forKey: .type)
        try inventory.encode(memoryBytes, forKey: .memoryBytes)
        try inventory.encode(blockDevices, forKey: .blockDevices)
        try inventory.encode(interfaces, forKey: .interfaces)
        try inventory.encode(serial, forKey: .serial)
        try inventory.encodeIfPresent(elapsed, forKey: .elapsed)
    }
}

/// One finished job as `jobs BOARD --json` shows it, and as the agent keeps
/// it, one line each, in `DATA_DIR/jobs/BOARD.jsonl`.
public struct JobReport: Codable, Sendable, Equatable {
    /// `netboot` or `flash`.
    public var kind: String
    public var user: String
    /// UTC time it started.
    public var started: String
    /// How long it took, to 0.1 s.
    public var seconds: Double
    /// `ok`, `failed`, `cancelled`, or `interrupted` (the agent stopped while it ran).
    public var result: String
    /// `STEP: REASON`; absent when `ok`.
    public var error: String?
    /// Its files, name → sha256 (`""` when unknown).
    public var files: [String: String]
    public var inventory: InventoryReport?
    /// Its steps in order, each with how long it took (absent in records
    /// older than them).
    public var phases: [JobPhaseReport]
    /// Bytes of image written (a flash), for its MB/s; nil when unknown.
    public var bytes: Int64?

    public init(kind: String, user: String, started: String, seconds: Double, result: String, error: String? = nil,
                files: [String: String] = [:], inventory: InventoryReport? = nil, phases: [JobPhaseReport] = [], bytes: Int64? = nil) {
        self.phases = phases
        self.bytes = bytes.map { max(0, $0) }
        self.kind = kind
        self.user = user
        self.started = started
        self.seconds = seconds.isFinite ? (max(0, seconds) * 10).rounded() / 10 : 0
        self.result = result
        self.error = error
        self.files = files
        self.inventory = inventory
    }

    enum CodingKeys: String, CodingKey { case version = "v", kind, user, started, seconds, result, error, files, inventory, phases, bytes }

    public init(from decoder: any Decoder) throws {
        let job = try decoder.container(keyedBy: CodingKeys.self)
        _ = try job.wireVersion(.version)
        kind = try job.decode(String.self, forKey: .kind)
        user = try job.decode(String.self, forKey: .user)
        started = try job.decode(String.self, forKey: .started)
        seconds = job.measure(.seconds, upTo: FlasherEventReport.longestTime) ?? 0
        result = try job.decode(String.self, forKey: .result)
        error = try job.decodeIfPresent(String.self, forKey: .error)
        files = try job.decodeIfPresent([String: String].self, forKey: .files) ?? [:]
        inventory = try job.decodeIfPresent(InventoryReport.self, forKey: .inventory)
        phases = (try? job.decodeIfPresent([JobPhaseReport].self, forKey: .phases)) ?? []
        bytes = job.measure(.bytes, upTo: Double(Int64(1) << 50)).map { Int64($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var job = encoder.container(keyedBy: CodingKeys.self)
        try job.encode(Wire.version, forKey: .version)
        try job.encode(kind, forKey: .kind)
        try job.encode(user, forKey: .user)
        try job.encode(started, forKey: .started)
        try job.encode(seconds, forKey: .seconds)
        try job.encode(result, forKey: .result)
        try job.encodeIfPresent(error, forKey: .error)
        try job.encode(files, forKey: .files)
        try job.encodeIfPresent(inventory, forKey: .inventory)
        if !phases.isEmpty { try job.encode(phases, forKey: .phases) }
        try job.encodeIfPresent(bytes, forKey: .bytes)
    }
}

/// One step of a job and how long it took.
public struct JobPhaseReport: Codable, Sendable, Equatable {
    /// The step as the job said it (`powering on`, `writing rootfs.img …`).
    public var name: String
    public var seconds: Double

    public init(name: String, seconds: Double) {
        self.name = String(name.prefix(200))
        self.seconds = seconds.isFinite ? (max(0, seconds) * 10).rounded() / 10 : 0
    }

    enum CodingKeys: String, CodingKey { case name, seconds }

    public init(from decoder: any Decoder) throws {
        let phase = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try phase.decode(String.self, forKey: .name), seconds: phase.measure(.seconds, upTo: FlasherEventReport.longestTime) ?? 0)
    }
}

/// When each step of a running job began, for its record. A job reports
/// `HH:MM:SS step…` as a step begins and `HH:MM:SS step: ok (1.2s)` as it
/// ends (its other lines say what happened within one): a step is timed
/// from its beginning to the next one's, the last to the job's end.
public final class JobPhaseClock: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private var steps: [(name: String, start: Double)] = []
    private let lock = NSLock()
    private let clock: () -> Double

    public init(clock: @escaping () -> Double) {
        self.clock = clock
    }

    /// A line the job reported: a step's beginning is noted.
    public func report(_ line: String) {
        guard line.hasSuffix("…") else { return }
        var name = Substring(line.dropLast())
        // The time the job put in front (`08:47:16 `).
        if name.count > 9, name.prefix(8).allSatisfy({ $0.isNumber || $0 == ":" }), name.dropFirst(8).first == " " {
            name = name.dropFirst(9)
        }
        lock.lock()
        steps.append((String(name), clock()))
        lock.unlock()
    }

    /// Each step with its length, the last one's up to now.
    public func finish() -> [JobPhaseReport] {
        lock.lock()
        defer { lock.unlock() }
        let end = clock()
        let phases = steps.enumerated().map { index, step in
            JobPhaseReport(name: step.name, seconds: (index + 1 < steps.count ? steps[index + 1].start : end) - step.start)
        }
        return phases
    }
}

extension KeyedDecodingContainer {
    /// The value at `key` if it is there and of the type; else nil.
    func lenient<Value: Decodable>(_ type: Value.Type, _ key: Key) -> Value? {
        (try? decodeIfPresent(type, forKey: key)) ?? nil
    }

    /// A count from a peer: a whole number from 0 to 2^53; anything else
    /// (absent, negative, fractional, larger, not a number) reads as nil.
    func count(_ key: Key) -> Int64? {
        guard let value = lenient(Double.self, key), value.isFinite, value >= 0,
              value <= Double(FlasherEventReport.largestCount), value.rounded() == value else { return nil }
        return Int64(exactly: value)
    }

    /// A finite number from 0 to `limit`; anything else reads as nil.
    func measure(_ key: Key, upTo limit: Double) -> Double? {
        guard let value = lenient(Double.self, key), value.isFinite, value >= 0, value <= limit else { return nil }
        return value
    }
}
