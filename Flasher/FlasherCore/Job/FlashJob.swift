/// One image to write: where it comes from, what it must hash to, where it goes.
public struct ImageSpec: Equatable, Sendable {
    /// "rootfs", "kernel", "dtb", or a manifest's own name; used in reports.
    public var name: String
    public var url: HTTPURL
    /// The SHA-256 of the decompressed image, lowercase hex; nil: the
    /// read-back is still compared with the hash of what was streamed.
    public var sha256: String?
    /// The SHA-256 of the file at `url` as downloaded (compressed or not),
    /// lowercase hex: what the agent's store knows of an upload.
    public var fileSHA256: String?
    /// The decompressed size in bytes, if known (progress totals, a check).
    public var size: Int64?
    /// nil: detected from the stream's first bytes.
    public var compression: Compression?
    public var bmapURL: HTTPURL?
    public var target: TargetSpec

    public init(name: String, url: HTTPURL, sha256: String? = nil, fileSHA256: String? = nil, size: Int64? = nil,
                compression: Compression? = nil, bmapURL: HTTPURL? = nil, target: TargetSpec) {
        self.name = name
        self.url = url
        self.sha256 = sha256
        self.fileSHA256 = fileSHA256
        self.size = size
        self.compression = compression
        self.bmapURL = bmapURL
        self.target = target
    }
}

/// Where an image is written: a whole device or partition (or, off the board,
/// any file), or a file inside a vfat/ext4 partition (`/dev/mmcblk0p1:/Image`).
public struct TargetSpec: Equatable, Sendable, CustomStringConvertible {
    public var device: String
    /// A path inside the file system on `device`; nil: the device itself.
    public var file: String?

    public init(device: String, file: String? = nil) {
        self.device = device
        self.file = file
    }

    /// Parses `/dev/X`, `/dev/X:/path/in/fs`, or an absolute file path.
    public init(parsing text: String) throws(FlasherError) {
        func refuse(_ why: String) -> FlasherError { FlasherError(.configuration, "target '\(text)': \(why)") }
        guard text.utf8.count <= 4096 else { throw FlasherError(.configuration, "a target path longer than 4096 bytes") }
        guard text.hasPrefix("/") else { throw refuse("must be an absolute path such as /dev/mmcblk0") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw refuse("control characters in a path")
        }
        if text.hasPrefix("/dev/"), let colon = text.firstIndex(of: ":") {
            let device = String(text[..<colon])
            let file = String(text[text.index(after: colon)...])
            guard file.hasPrefix("/"), file.count > 1 else {
                throw refuse("the file after ':' must be an absolute path inside the partition, e.g. /dev/mmcblk0p1:/Image")
            }
            guard !file.split(separator: "/").contains("..") else { throw refuse("'..' in the file path") }
            self.init(device: device, file: file)
        } else {
            guard !text.split(separator: "/").contains("..") else { throw refuse("'..' in the path") }
            self.init(device: text)
        }
    }

    public var description: String { file.map { "\(device):\($0)" } ?? device }
}

/// What the board does once every image is written and verified.
public enum AfterAction: String, Sendable {
    case reboot, poweroff, stay
}

/// A job: the images, and how to finish.
public struct FlashJob: Sendable {
    public var images: [ImageSpec]
    public var verify: Bool
    public var after: AfterAction
    /// Where progress and results are POSTed (`JOB_URL/events`); nil: console only.
    public var eventsURL: HTTPURL?
    /// The job's credential from the manifest, sent with every event.
    public var eventsSecret: String?
    /// Manifest members this flasher does not know and skipped (`images[0].colour`).
    public var ignoredMembers: [String] = []

    public init(images: [ImageSpec], verify: Bool = true, after: AfterAction = .reboot, eventsURL: HTTPURL? = nil) {
        self.images = images
        self.verify = verify
        self.after = after
        self.eventsURL = eventsURL
    }
}

/// Checks and normalises a SHA-256 given as hex (64 digits, either case).
func parseSHA256(_ text: String, what: String) throws(FlasherError) -> String {
    let lowered = text.lowercased()
    guard lowered.utf8.count == 64, lowered.utf8.allSatisfy({ hexDigitValue($0) != nil }) else {
        throw FlasherError(.configuration, "\(what): '\(text.prefix(80))' is not a SHA-256 (64 hex digits)")
    }
    return lowered
}
