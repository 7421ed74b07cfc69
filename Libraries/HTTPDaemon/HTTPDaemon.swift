#if canImport(Glibc)
import Glibc
#endif
import CMicroHTTPD

/// libmicrohttpd's version, e.g. "0.9.75".
public let libmicrohttpdVersion: String = String(cString: MHD_get_version())

/// A request as the handler sees it (headers are added as the server grows).
public struct HTTPRequest: Sendable {
    public var method: String
    public var path: String
}

/// A complete response held in memory.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// An HTTP server on libmicrohttpd, serving a listening socket with its own
/// threads (epoll, a small pool) and calling `handler` on them.
public final class HTTPDaemon: Sendable {
    // Owned: stopped and freed in deinit; MHD calls are thread-safe.
    nonisolated(unsafe) private let daemon: OpaquePointer
    private let context: Unmanaged<HTTPDaemonContext>

    /// Starts serving `listeningSocket` (bound and listening; the daemon
    /// takes it over and closes it when stopped).
    public init(listeningSocket: Int32, threads: UInt32 = 2,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(HTTPDaemonError) {
        context = Unmanaged.passRetained(HTTPDaemonContext(handler))
        let flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_ERROR_LOG.rawValue
        guard let daemon = CMicroHTTPD_start_daemon(flags, listeningSocket, accessHandler, context.toOpaque(),
                                                    nil, nil, threads, 30, 1000) else {
            context.release()
            throw HTTPDaemonError("libmicrohttpd could not start on socket \(listeningSocket)")
        }
        self.daemon = daemon
    }

    deinit {
        MHD_stop_daemon(daemon)
        context.release()
    }
}

/// What the C callbacks reach through their context pointer.
final class HTTPDaemonContext: Sendable {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    init(_ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.handler = handler }
}

/// Called by libmicrohttpd on its own threads: once when the headers are in
/// (to accept the request), again with any body, and once more to answer.
let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, _, uploadSize, requestContext in
    guard let cls, let connection, let requestContext else { return .NO }
    if requestContext.pointee == nil {
        requestContext.pointee = UnsafeMutableRawPointer(bitPattern: 1)  // headers seen
        return .YES
    }
    if let uploadSize, uploadSize.pointee != 0 {
        uploadSize.pointee = 0  // bodies are not used yet: drop them
        return .YES
    }
    let handler = Unmanaged<HTTPDaemonContext>.fromOpaque(cls).takeUnretainedValue()
    let request = HTTPRequest(method: method.map { String(cString: $0) } ?? "", path: url.map { String(cString: $0) } ?? "/")
    let answer = handler.handler(request)
    let response = answer.body.withUnsafeBytes {
        MHD_create_response_from_buffer(answer.body.count, UnsafeMutableRawPointer(mutating: $0.baseAddress),
                                        .RESPMEM_MUST_COPY)
    }
    guard let response else { return .NO }
    for (name, value) in answer.headers { MHD_add_response_header(response, name, value) }
    let result = MHD_queue_response(connection, UInt32(answer.status), response)
    MHD_destroy_response(response)
    return result
}

public struct HTTPDaemonError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
