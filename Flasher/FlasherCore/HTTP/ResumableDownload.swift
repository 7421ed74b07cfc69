#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A GET whose body reads as one stream even when the connection breaks:
/// after a failure it reconnects and asks for the rest (`Range: bytes=N-`,
/// with `If-Range` so a changed file is never spliced onto the old one).
/// Gives up after `retries` failures in a row that brought no new byte.
public final class ResumableDownload {
    public let url: HTTPURL
    public let retries: Int
    public let timeout: Double
    /// The body's full length, once a response said it.
    public private(set) var totalLength: Int64?
    /// Body bytes delivered so far.
    public private(set) var received: Int64 = 0
    /// How many times the download was resumed.
    public private(set) var resumptions = 0
    private var connection: HTTPConnection?
    private var validator: String?
    private var failuresInARow = 0
    private let log: (String) -> Void

    public init(url: HTTPURL, retries: Int, timeout: Double = 30, log: @escaping (String) -> Void = { _ in }) {
        self.url = url
        self.retries = retries
        self.timeout = timeout
        self.log = log
    }

    /// Reads the next bytes of the body into `destination`; 0 at its end.
    public func read(into destination: UnsafeMutableRawBufferPointer) throws(FlasherError) -> Int {
        while true {
            do throws(FlasherError) {
                let connection: HTTPConnection
                if let open = self.connection {
                    connection = open
                } else {
                    guard let opened = try self.open() else { return 0 }  // nothing was left
                    connection = opened
                    self.connection = connection
                }
                let n = try connection.readBody(into: destination)
                if n > 0 {
                    received += Int64(n)
                    failuresInARow = 0
                    if let totalLength, received > totalLength {
                        throw FlasherError(.download, "\(url) sent more than its \(totalLength) bytes", offset: received)
                    }
                    return n
                }
                if let totalLength, received < totalLength {
                    throw FlasherError(.network, "the connection ended \(totalLength - received) bytes early", code: ECONNRESET)
                }
                self.connection = nil
                return 0
            } catch {
                self.connection = nil
                guard error.phase == .network else { throw error.withOffset(received) }
                failuresInARow += 1
                guard failuresInARow <= retries else {
                    var final = error
                    final.phase = .download
                    final.what = "\(url): \(error.what) (gave up after \(retries) retries)"
                    throw final.withOffset(received)
                }
                let wait = HTTPClient.backoff(failuresInARow)
                log("download interrupted at byte \(received) (\(error)); retry \(failuresInARow)/\(retries) in \(wait) s")
                sleepSeconds(wait)
            }
        }
    }

    /// Sends the GET (a ranged one after the first bytes) and checks the
    /// answer; nil when the body turns out to be complete already.
    private func open() throws(FlasherError) -> HTTPConnection? {
        let connection = try HTTPConnection(url: url, timeout: timeout)
        var headers: [(String, String)] = []
        if received > 0 {
            headers.append(("Range", "bytes=\(received)-"))
            if let validator { headers.append(("If-Range", validator)) }
            resumptions += 1
        }
        try connection.send(method: "GET", headers: headers)
        let head = try connection.readHead()
        switch head.status {
        case 200:
            let length = head.header("content-length").flatMap { Int64($0) }
            if received == 0 {
                totalLength = length
                validator = head.header("etag").flatMap { $0.hasPrefix("W/") ? nil : $0 } ?? head.header("last-modified")
            } else {
                // The server ignored the range (or the file changed: If-Range failed).
                let now = head.header("etag").flatMap { $0.hasPrefix("W/") ? nil : $0 } ?? head.header("last-modified")
                if validator != nil && now != validator {
                    throw FlasherError(.download, "\(url) changed on the server during the download", offset: received)
                }
                try skip(received, on: connection)
            }
        case 206:
            guard received > 0, let range = head.header("content-range"), let (start, total) = Self.parseContentRange(range) else {
                throw FlasherError(.download, "\(url): a 206 answer without a usable Content-Range", offset: received)
            }
            guard start == received else {
                throw FlasherError(.download, "\(url): asked for bytes from \(received), got them from \(start)", offset: received)
            }
            if let total, let totalLength, total != totalLength {
                throw FlasherError(.download, "\(url) changed size during the download (\(totalLength) → \(total))", offset: received)
            }
        case 416 where totalLength == received:
            return nil
        case 500...599, 408, 429:
            throw FlasherError(.network, "GET \(url): HTTP \(head.status) \(head.reason)")
        default:
            throw FlasherError(.download, "GET \(url): HTTP \(head.status) \(head.reason)", offset: received)
        }
        return connection
    }

    /// Reads and drops the first `count` bytes (a server without Range support).
    private func skip(_ count: Int64, on connection: HTTPConnection) throws(FlasherError) {
        var left = count
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        while left > 0 {
            let n = try connection.readBody(into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<Int(min(left, 1 << 16))]))
            guard n > 0 else { throw FlasherError(.network, "the connection ended while skipping to byte \(count)", code: ECONNRESET) }
            left -= Int64(n)
        }
    }

    /// `bytes START-END/TOTAL` → (START, TOTAL or nil for `*`).
    static func parseContentRange(_ text: String) -> (Int64, Int64?)? {
        guard text.hasPrefix("bytes ") else { return nil }
        let rest = text.dropFirst(6)
        let parts = rest.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let dash = parts[0].firstIndex(of: "-"),
              let start = Int64(parts[0][..<dash]) else { return nil }
        return (start, Int64(parts[1]))
    }
}

extension FlasherError {
    func withOffset(_ offset: Int64) -> FlasherError {
        var copy = self
        if copy.offset == nil { copy.offset = offset }
        return copy
    }
}
