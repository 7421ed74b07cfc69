#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A request whose headers are in, as the handler sees it. A plain value:
/// handlers can be tested without a daemon.
public struct HTTPRequest: Sendable {
    /// `GET`, `PUT`, … as the client sent it.
    public var method: String
    /// The request target exactly as received, still percent-encoded, with
    /// its query (`/u/alice/a%20b.img?sha256=…`). Handlers parse this one.
    public var target: String
    /// The path as libmicrohttpd decoded it (no query); for logs and simple handlers.
    public var path: String
    /// `HTTP/1.1`
    public var version: String
    /// Header names in lowercase, in the order received.
    public var headers: [(name: String, value: String)]
    /// The peer, when the socket has one.
    public var client: SocketAddress?

    public init(method: String, target: String, path: String? = nil, version: String = "HTTP/1.1",
                headers: [(name: String, value: String)] = [], client: SocketAddress? = nil) {
        self.method = method
        self.target = target
        self.path = path ?? String(target.prefix { $0 != "?" })
        self.version = version
        self.headers = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        self.client = client
    }

    /// The first value of header `name` (any case).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }
}

/// What a response carries after its headers.
public enum HTTPBody: Sendable {
    case bytes([UInt8])
    /// `length` bytes of an open file from `offset`, sent with sendfile(2).
    /// The response owns the descriptor: it is closed once sent (or dropped).
    case file(HTTPFileRange)
    /// A prepared response body with its own headers, sent as is (the
    /// response's `headers` are not added to it).
    case cached(HTTPCachedBody)
    /// Written as it comes (server-sent events, a console): chunked, until
    /// the stream ends or the client goes.
    case stream(any HTTPStream)
    /// No body: the connection is handed over once the answer (a `101
    /// Switching Protocols` with its `Upgrade` header) is sent. Only a
    /// daemon with a thread per connection upgrades.
    case upgrade(any HTTPUpgradeHandler)
}

/// A small body that libmicrohttpd keeps ready and sends to any number of
/// requests without copying or re-reading it (a small file's bytes and
/// headers). Freed when the last request using it is done.
public final class HTTPCachedBody: @unchecked Sendable {
    // @unchecked: libmicrohttpd reference-counts a response under its own
    // lock; after init, Swift never mutates it.
    let response: OpaquePointer
    public let length: Int

    public init?(bytes: UnsafeRawBufferPointer, headers: [(String, String)]) {
        guard let response = makeBufferResponse(bytes) else { return nil }
        for (name, value) in headers { addResponseHeader(response, name, value) }
        self.response = response
        self.length = bytes.count
    }

    deinit { destroyResponse(response) }
}

/// An open file's byte range for a response; owns the descriptor until the
/// daemon hands it to libmicrohttpd (which closes it after sending).
public final class HTTPFileRange: @unchecked Sendable {
    // @unchecked: `descriptor` is taken exactly once, by the daemon thread
    // that queues the response; until then nothing mutates it.
    private var descriptor: Int32
    public let offset: UInt64
    public let length: UInt64

    public init(descriptor: Int32, offset: UInt64, length: UInt64) {
        self.descriptor = descriptor
        self.offset = offset
        self.length = length
    }

    /// Hands the descriptor over; this object no longer closes it.
    func take() -> Int32 {
        let fd = descriptor
        descriptor = -1
        return fd
    }

    deinit { if descriptor >= 0 { close(descriptor) } }
}

/// A complete response: status, headers (Content-Length is added by the
/// daemon) and body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: HTTPBody

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = .bytes(body)
    }

    public init(status: Int, headers: [(String, String)] = [], file: HTTPFileRange) {
        self.status = status
        self.headers = headers
        self.body = .file(file)
    }

    /// A prepared body with its own headers.
    public init(status: Int, cached: HTTPCachedBody) {
        self.status = status
        self.headers = []
        self.body = .cached(cached)
    }

    /// The first value of header `name` (any case), for tests and logs.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }

    /// The body's length in bytes.
    public var contentLength: UInt64 {
        switch body {
        case .bytes(let bytes): return UInt64(bytes.count)
        case .file(let range): return range.length
        case .cached(let body): return UInt64(body.length)
        case .stream, .upgrade: return 0
        }
    }
}

/// A body written as it comes. `read` is called on the connection's own
/// thread (the daemon must run a thread per connection) and may wait;
/// `close` once the response is done: it ended, the client went, or the
/// daemon stops (then `read` must return soon).
public protocol HTTPStream: AnyObject, Sendable {
    /// Up to `buffer.count` bytes into `buffer`; their count (more than 0),
    /// or nil at the end. Waiting longer than a few seconds, it should
    /// write something (an SSE comment), or a client that left is not noticed.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int?
    func close()
}

extension HTTPResponse {
    public init(status: Int, headers: [(String, String)] = [], stream: any HTTPStream) {
        self.status = status
        self.headers = headers
        self.body = .stream(stream)
    }
}

/// What the handler decides once a request's headers are in.
public enum HTTPAction: Sendable {
    /// Answer now; a body the client may send is not read.
    case respond(HTTPResponse)
    /// Read the body into `receiver` (after `100 Continue` when asked for).
    case receive(any HTTPBodyReceiver)
}

/// Takes a request body as it arrives, on the daemon's thread serving that
/// connection (one call at a time per request).
public protocol HTTPBodyReceiver: AnyObject, Sendable {
    /// The next piece of the body. Returns nil to go on, or a response that
    /// ends the request: the rest of the body is read and dropped, and that
    /// response is sent; `finish` and `abandon` are not called afterwards.
    func receive(_ bytes: UnsafeRawBufferPointer) -> HTTPResponse?
    /// The whole body is in: the response.
    func finish() -> HTTPResponse
    /// The request ended before its body was complete (the client went away,
    /// a timeout, the daemon stopping).
    func abandon(reason: String)
}

/// Answers requests; called on libmicrohttpd's threads, several at once.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) -> HTTPAction
}
