/// Limits a server applies when it negotiates options.
public struct TFTPLimits: Sendable {
    /// Largest block size granted (RFC 2348 allows up to 65464).
    public var maxBlockSize = 65464
    /// Largest window granted (RFC 7440). U-Boot's virtio-net copes with 32.
    public var maxWindowSize = 64
    /// Largest window in bytes, so a transfer's buffer stays small.
    public var maxWindowBytes = 4 << 20
    /// Retransmission timeout when the client asks for none.
    public var defaultTimeoutMicroseconds = 1_000_000
    /// Retransmissions of one window before the transfer is abandoned.
    public var maxRetransmissions = 6
    /// Longest retransmission timeout granted (RFC 2349 allows 255 s): a
    /// longer one is left out of the OACK and the default holds, so a
    /// flood of abandoned requests frees its transfer slots in seconds,
    /// not half an hour.
    public var maxTimeoutSeconds = 10
    /// Transfers one client address may have under way at once.
    public var maxTransfersPerAddress = 64

    public init() {}
}

/// What a read request settled on: RFC 2347 negotiation of blksize (2348),
/// timeout and tsize (2349) and windowsize (7440). Unknown options are
/// ignored, as RFC 2347 asks; values out of range are refused with error 8.
public struct TFTPNegotiation: Equatable, Sendable {
    public var blockSize = 512
    public var windowSize = 1
    public var timeoutMicroseconds: Int
    /// The options to acknowledge in an OACK; empty means no OACK (RFC 1350).
    public var acknowledged: [(name: String, value: String)] = []

    public static func == (a: TFTPNegotiation, b: TFTPNegotiation) -> Bool {
        a.blockSize == b.blockSize && a.windowSize == b.windowSize && a.timeoutMicroseconds == b.timeoutMicroseconds
            && a.acknowledged.map(\.name) == b.acknowledged.map(\.name)
            && a.acknowledged.map(\.value) == b.acknowledged.map(\.value)
    }

    /// - Parameter transferSize: the bytes the client will receive, for tsize;
    ///   nil when it cannot be known up front (then tsize is not acknowledged).
    public init(options: [(name: String, value: String)], transferSize: Int?, limits: TFTPLimits) throws(TFTPRefusal) {
        timeoutMicroseconds = limits.defaultTimeoutMicroseconds
        var requestedWindow: Int?
        for (name, value) in options {
            switch name {
            case "blksize":
                let size = try Self.number(name, value, in: 8...Int.max, range: "8–65464")
                blockSize = min(size, limits.maxBlockSize)
                acknowledged.append((name, String(blockSize)))
            case "timeout":
                let seconds = try Self.number(name, value, in: 1...255, range: "1–255")
                guard seconds <= limits.maxTimeoutSeconds else { continue }
                timeoutMicroseconds = seconds * 1_000_000
                acknowledged.append((name, String(seconds)))
            case "tsize":
                _ = try Self.number(name, value, in: 0...Int.max, range: "0 or more")
                if let transferSize { acknowledged.append((name, String(transferSize))) }
            case "windowsize":
                requestedWindow = try Self.number(name, value, in: 1...65535, range: "1–65535")
                acknowledged.append((name, ""))  // filled in once blksize is known
            default:
                continue
            }
        }
        if let requestedWindow, let index = acknowledged.firstIndex(where: { $0.name == "windowsize" }) {
            let byMemory = max(1, limits.maxWindowBytes / blockSize)
            windowSize = min(requestedWindow, limits.maxWindowSize, byMemory)
            acknowledged[index].value = String(windowSize)
        }
    }

    private static func number(_ name: String, _ value: String, in valid: ClosedRange<Int>, range: String) throws(TFTPRefusal) -> Int {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw TFTPRefusal(.optionRefused, "option \(name) '\(value)' is not a number")
        }
        guard let number = Int(value), valid.contains(number) else {
            throw TFTPRefusal(.optionRefused, "option \(name) \(value) is out of range (\(range))")
        }
        return number
    }
}
