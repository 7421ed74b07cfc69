#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMicroHTTPD
import Synchronization
import SystemSupport

/// libmicrohttpd's version, e.g. "0.9.75".
public let libmicrohttpdVersion: String = String(cString: MHD_get_version())

/// How a daemon runs, beyond what it listens on.
public struct HTTPDaemonOptions: Sendable {
    public enum Threads: Sendable {
        /// `count` threads, each with its own epoll set, sharing the connections.
        case pool(Int)
        /// A thread per connection (poll), plus one that accepts.
        case perConnection
    }

    public var threads: Threads = .pool(4)
    /// Seconds a connection may stay idle before it is closed.
    public var connectionTimeout: Int = 30
    public var connectionLimit: Int = 1000
    /// Connections one client address may hold at once, so that one host
    /// (a stuck script, slow readers) cannot take every connection; past it
    /// libmicrohttpd closes the new connection at once.
    public var perAddressConnectionLimit: Int = 100
    /// Per connection: the request line and headers must fit (a larger request
    /// is refused by libmicrohttpd with 414 or 431); also the upload buffer.
    public var connectionMemoryLimit: Int = 32 * 1024
    public var listenBacklog: Int = 1024
    /// Where libmicrohttpd's own messages go (one line each).
    public var log: (@Sendable (String) -> Void)?
    /// PEM text of a TLS certificate (its chain) and its key: HTTPS
    /// (libmicrohttpd's, over GnuTLS). Both or neither.
    public var tls: (certificate: String, key: String)?
    /// Called as each request ends (on its connection's thread; keep it short).
    public var onRequestEnd: (@Sendable (HTTPRequestEnd) -> Void)?

    public init() {}
}

/// How a request ended, for counting (metrics).
public struct HTTPRequestEnd: Sendable {
    public var method: String
    /// The status answered; 0 when none was.
    public var status: Int
    /// The body's length when it was all sent (0 for a stream or when the
    /// client went first).
    public var bytesSent: UInt64
    /// Request body bytes received.
    public var bytesReceived: UInt64
    /// Whether the response went out whole.
    public var completed: Bool
}

/// An HTTP/1.1 server on libmicrohttpd. libmicrohttpd runs it on its own
/// threads (never Swift's cooperative pool) and calls the handler there.
public final class HTTPDaemon: Sendable {
    /// The address bound, with the port the kernel chose for port 0.
    public let localAddress: SocketAddress
    // Owned: stopped and freed in deinit (or stop()); MHD calls are thread-safe.
    nonisolated(unsafe) private let daemon: OpaquePointer
    nonisolated(unsafe) private let options: UnsafeMutablePointer<CMicroHTTPD_options>
    private let context: Unmanaged<HTTPDaemonContext>
    private let stopped = Atomic<Bool>(false)

    /// Binds `address` and starts serving it; a taken port fails here.
    public convenience init(listeningOn address: SocketAddress, options: HTTPDaemonOptions = HTTPDaemonOptions(),
                            handler: any HTTPHandler) throws {
        let (fd, bound) = try makeListeningSocket(address, backlog: Int32(options.listenBacklog))
        try self.init(listeningSocket: fd, localAddress: bound, options: options, handler: handler)
    }

    /// Starts serving `listeningSocket` (bound and listening; the daemon takes
    /// it over and closes it when stopped), calling `handler` for each request.
    public convenience init(listeningSocket: Int32, threads: UInt32 = 2, options: HTTPDaemonOptions = HTTPDaemonOptions(),
                            handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(HTTPDaemonError) {
        var options = options
        options.threads = .pool(Int(threads))
        try self.init(listeningSocket: listeningSocket, localAddress: nil, options: options,
                      handler: ClosureHandler(body: handler))
    }

    private init(listeningSocket fd: Int32, localAddress: SocketAddress?, options: HTTPDaemonOptions,
                 handler: any HTTPHandler) throws(HTTPDaemonError) {
        self.localAddress = localAddress ?? (try? SocketAddress(host: "0.0.0.0", port: 0)) ?? Self.unknownAddress
        let context = Unmanaged.passRetained(HTTPDaemonContext(handler: handler, log: options.log, onRequestEnd: options.onRequestEnd))
        let raw = UnsafeMutablePointer<CMicroHTTPD_options>.allocate(capacity: 1)
        raw.initialize(to: CMicroHTTPD_options())
        let cls = context.toOpaque()
        raw.pointee.listen_fd = fd
        raw.pointee.handler = accessHandler
        raw.pointee.handler_context = cls
        raw.pointee.completed = requestCompleted
        raw.pointee.completed_context = cls
        raw.pointee.uri_logger = requestStarted
        raw.pointee.uri_logger_context = cls
        raw.pointee.log_sink = options.log == nil ? nil : daemonLog
        raw.pointee.log_context = cls
        raw.pointee.connection_timeout = UInt32(options.connectionTimeout)
        raw.pointee.connection_limit = UInt32(clamping: options.connectionLimit)
        raw.pointee.per_ip_connection_limit = UInt32(clamping: options.perAddressConnectionLimit)
        raw.pointee.connection_memory_limit = options.connectionMemoryLimit
        raw.pointee.listen_backlog = UInt32(options.listenBacklog)
        if let tls = options.tls {
            raw.pointee.tls_cert = UnsafePointer(strdup(tls.certificate))
            raw.pointee.tls_key = UnsafePointer(strdup(tls.key))
        }
        // MHD_USE_ITC: `stop` wakes the daemon's threads through a channel
        // of their own, not only by shutting the listening socket down (a
        // socket whose number a stray close had handed on no longer woke
        // them, and MHD_stop_daemon waited forever).
        switch options.threads {
        case .pool(let count):
            raw.pointee.flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_TURBO.rawValue
                | MHD_USE_ITC.rawValue
            raw.pointee.thread_pool_size = UInt32(max(count, 1))
        case .perConnection:
            // Only here may a response upgrade its connection (a WebSocket):
            // its handler may then block on the connection's own thread.
            raw.pointee.flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_THREAD_PER_CONNECTION.rawValue
                | MHD_USE_POLL.rawValue | MHD_USE_TURBO.rawValue | MHD_ALLOW_UPGRADE.rawValue | MHD_USE_ITC.rawValue
            raw.pointee.thread_pool_size = 0
        }
        guard let daemon = CMicroHTTPD_start_daemon(raw) else {
            free(UnsafeMutablePointer(mutating: raw.pointee.tls_cert))
            free(UnsafeMutablePointer(mutating: raw.pointee.tls_key))
            raw.deallocate()
            context.release()
            close(fd)
            throw HTTPDaemonError("libmicrohttpd could not start on socket \(fd)"
                                  + (options.tls == nil ? "" : " (is the TLS certificate or key not PEM, or not a pair?)"))
        }
        self.daemon = daemon
        self.options = raw
        self.context = context
    }

    /// Closes the listening socket and every connection; uploads under way
    /// are abandoned (their receivers' `abandon` runs before this returns).
    public func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        MHD_stop_daemon(daemon)
    }

    deinit {
        stop()
        free(UnsafeMutablePointer(mutating: options.pointee.tls_cert))
        free(UnsafeMutablePointer(mutating: options.pointee.tls_key))
        options.deallocate()
        context.release()
    }

    private static let unknownAddress = try! SocketAddress(host: "0.0.0.0", port: 0)
}

private struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest) -> HTTPResponse
    func handle(_ request: HTTPRequest) -> HTTPAction { .respond(body(request)) }
}

public struct HTTPDaemonError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What the C callbacks reach through their context pointer.
final class HTTPDaemonContext: Sendable {
    let handler: any HTTPHandler
    let log: (@Sendable (String) -> Void)?
    let onRequestEnd: (@Sendable (HTTPRequestEnd) -> Void)?
    init(handler: any HTTPHandler, log: (@Sendable (String) -> Void)?, onRequestEnd: (@Sendable (HTTPRequestEnd) -> Void)?) {
        self.handler = handler
        self.log = log
        self.onRequestEnd = onRequestEnd
    }
}

/// One request, from its request line to its end; libmicrohttpd keeps it
/// as the request's `con_cls`, and only the connection's thread touches it.
final class RequestState {
    enum Phase {
        /// Headers not yet handled.
        case new
        /// Reading the body into a receiver.
        case receiving(any HTTPBodyReceiver)
        /// The answer is known: drop any body still arriving, then send this.
        case discarding(HTTPResponse)
        /// A response is queued.
        case answered
    }
    let target: String
    var method = ""
    /// What was answered, for `onRequestEnd`.
    var status = 0
    var length: UInt64 = 0
    var received: UInt64 = 0
    /// Who takes the connection over once a `101` answer is sent.
    var upgrade: (any HTTPUpgradeHandler)?
    /// The request line held a raw NUL byte inside the target.
    var cutByNUL = false
    var phase = Phase.new
    init(target: String) { self.target = target }

    /// Queues `response`, noting what it was.
    func send(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        status = response.status
        length = response.contentLength
        return queue(response, on: connection)
    }
}

// MARK: C callbacks (global lets outside main.swift: no actor checks on MHD's threads)

/// MHD_OPTION_URI_LOG_CALLBACK: the first thing known of a request; its
/// result becomes the request's context.
let requestStarted: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?)
    -> UnsafeMutableRawPointer? = { _, uri, _ in
    let state = RequestState(target: uri.map { String(cString: $0) } ?? "")
    if let uri {
        // libmicrohttpd ends the target where it found the space before the
        // version, so the byte after the target's end is that version's 'H'.
        // Anything else means a raw NUL byte cut the target short.
        let end = strlen(uri)
        state.cutByNUL = uri[end + 1] != CChar(UInt8(ascii: "H"))
    }
    return Unmanaged.passRetained(state).toOpaque()
}

/// Called once when the headers are in, once per piece of body, and once
/// more when the body is complete.
let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, version, uploadData, uploadSize, requestContext in
    guard let cls, let connection, let requestContext, let pointer = requestContext.pointee else { return .NO }
    let state = Unmanaged<RequestState>.fromOpaque(pointer).takeUnretainedValue()
    let pending = uploadSize?.pointee ?? 0
    switch state.phase {
    case .new:
        let daemon = Unmanaged<HTTPDaemonContext>.fromOpaque(cls).takeUnretainedValue()
        let request = HTTPRequest(method: method.map { String(cString: $0) } ?? "", target: state.target,
                                  path: url.map { String(cString: $0) } ?? "/",
                                  version: version.map { String(cString: $0) } ?? "",
                                  headers: requestHeaders(connection), client: clientAddress(connection))
        guard request.version == "HTTP/1.1" || request.version == "HTTP/1.0", !state.cutByNUL else {
            daemon.log?("refused \(request.method) \(request.target) from \(request.client.map { "\($0)" } ?? "?"): 400 malformed request line (a NUL byte, or version '\(request.version)')")
            state.phase = .answered
            return state.send(HTTPResponse(status: 400, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                      body: Array("malformed request line\n".utf8)), on: connection)
        }
        state.method = request.method
        let action = daemon.handler.handle(request)
        if case .respond(let response) = action, case .upgrade(let handler) = response.body { state.upgrade = handler }
        switch action {
        case .respond(let response) where hasBody(request):
            // Answering now keeps libmicrohttpd from reading the body (and from
            // sending 100 Continue); it then closes the connection after the reply.
            state.phase = .answered
            return state.send(response, on: connection)
        case .respond(let response):
            // Without a body, answer on the next call: a response queued this
            // early would end the connection, and keep-alive matters for small files.
            state.phase = .discarding(response)
            return .YES
        case .receive(let receiver):
            state.phase = .receiving(receiver)
            return .YES
        }
    case .receiving(let receiver):
        if pending > 0, let uploadData, let uploadSize {
            state.received += UInt64(pending)
            let refusal = receiver.receive(UnsafeRawBufferPointer(start: uploadData, count: pending))
            uploadSize.pointee = 0
            if let refusal { state.phase = .discarding(refusal) }
            return .YES
        }
        state.phase = .answered
        return state.send(receiver.finish(), on: connection)
    case .discarding(let response):
        if pending > 0, let uploadSize {
            uploadSize.pointee = 0
            return .YES
        }
        state.phase = .answered
        return state.send(response, on: connection)
    case .answered:
        return .NO
    }
}

/// MHD_OPTION_NOTIFY_COMPLETED: the request is over, answered or not.
let requestCompleted: MHD_RequestCompletedCallback = { cls, _, requestContext, termination in
    guard let requestContext, let pointer = requestContext.pointee else { return }
    requestContext.pointee = nil
    let state = Unmanaged<RequestState>.fromOpaque(pointer).takeRetainedValue()
    if let cls, let onRequestEnd = Unmanaged<HTTPDaemonContext>.fromOpaque(cls).takeUnretainedValue().onRequestEnd {
        let completed = termination == .REQUEST_TERMINATED_COMPLETED_OK
        onRequestEnd(HTTPRequestEnd(method: state.method, status: state.status, bytesSent: completed ? state.length : 0,
                                    bytesReceived: state.received, completed: completed))
    }
    if case .receiving(let receiver) = state.phase {
        receiver.abandon(reason: terminationReason(termination))
    }
    state.phase = .answered
}

/// MHD's own messages, formatted by the shim.
let daemonLog: CMicroHTTPD_log_sink = { cls, message in
    guard let cls, let message else { return }
    let daemon = Unmanaged<HTTPDaemonContext>.fromOpaque(cls).takeUnretainedValue()
    daemon.log?(String(cString: message))
}

/// Collects the request headers (MHD_get_connection_values' iterator).
private let collectHeader: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let box = Unmanaged<HeaderBox>.fromOpaque(cls).takeUnretainedValue()
    box.headers.append((name: String(cString: key), value: value.map { String(cString: $0) } ?? ""))
    return .YES
}

private final class HeaderBox {
    var headers: [(name: String, value: String)] = []
}

private func requestHeaders(_ connection: OpaquePointer) -> [(name: String, value: String)] {
    let box = HeaderBox()
    withExtendedLifetime(box) {
        _ = MHD_get_connection_values(connection, .HEADER_KIND, collectHeader, Unmanaged.passUnretained(box).toOpaque())
    }
    return box.headers
}

/// Whether the client announced a body (a length above 0, or chunks).
private func hasBody(_ request: HTTPRequest) -> Bool {
    if request.header("Transfer-Encoding") != nil { return true }
    if let length = request.header("Content-Length") { return length != "0" }
    return false
}

private func clientAddress(_ connection: OpaquePointer) -> SocketAddress? {
    var storage = sockaddr_storage()
    let length = CMicroHTTPD_client_address(connection, &storage)
    guard length > 0 else { return nil }
    return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
    }
}

private func queue(_ answer: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
    let response: OpaquePointer?
    switch answer.body {
    case .bytes(let bytes):
        response = bytes.withUnsafeBytes { makeBufferResponse($0) }
    case .file(let range) where range.length <= smallFileLimit:
        // A small file is read here: libmicrohttpd then sends headers and body
        // with one system call, where sendfile would need two.
        let fd = range.take()
        response = readSmallFile(fd, offset: range.offset, length: Int(range.length))
        close(fd)
    case .file(let range):
        let fd = range.take()
        response = MHD_create_response_from_fd_at_offset64(range.length, fd, range.offset)
        if response == nil { close(fd) }
    case .cached(let body):
        return MHD_queue_response(connection, UInt32(answer.status), body.response)
    case .upgrade:
        // The handler is the request's (its `upgrade`), found by upgradeStarted.
        CMicroHTTPD_send_at_once(connection)
        response = MHD_create_response_for_upgrade(upgradeStarted, nil)
    case .stream(let stream):
        CMicroHTTPD_send_at_once(connection)
        let context = Unmanaged.passRetained(StreamBox(stream)).toOpaque()
        response = MHD_create_response_from_callback(UInt64.max, 16 * 1024, streamReader, context, streamFreed)
        if response == nil { Unmanaged<StreamBox>.fromOpaque(context).release() }
    }
    guard let response else { return .NO }
    for (name, value) in answer.headers { MHD_add_response_header(response, name, value) }
    let result = MHD_queue_response(connection, UInt32(answer.status), response)
    MHD_destroy_response(response)
    return result
}

/// The `101` answer is sent: the request's upgrade handler takes the socket.
let upgradeStarted: MHD_UpgradeHandler = { _, _, requestContext, extra, extraCount, socket, handle in
    guard let handle else { return }
    let connection = HTTPUpgradedConnection(socket: socket, handle: handle,
                                            extra: extra.map { Array(UnsafeRawBufferPointer(start: $0, count: extraCount)) } ?? [])
    guard let requestContext else { return connection.close() }
    let state = Unmanaged<RequestState>.fromOpaque(requestContext).takeUnretainedValue()
    guard let handler = state.upgrade else { return connection.close() }
    state.upgrade = nil
    handler.upgraded(connection)
}

/// A stream as the context of libmicrohttpd's reader callbacks.
final class StreamBox {
    let stream: any HTTPStream
    init(_ stream: any HTTPStream) { self.stream = stream }
}

/// libmicrohttpd asks a streamed body for its next bytes (-1: its end).
let streamReader: MHD_ContentReaderCallback = { context, _, buffer, size in
    guard let context, let buffer, size > 0 else { return -1 }
    let box = Unmanaged<StreamBox>.fromOpaque(context).takeUnretainedValue()
    guard let count = box.stream.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size)), count > 0 else { return -1 }
    return min(count, size)
}

/// The streamed response is done with (sent, or the client went).
let streamFreed: MHD_ContentReaderFreeCallback = { context in
    guard let context else { return }
    let box = Unmanaged<StreamBox>.fromOpaque(context).takeRetainedValue()
    box.stream.close()
}

func makeBufferResponse(_ bytes: UnsafeRawBufferPointer) -> OpaquePointer? {
    MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
}

func addResponseHeader(_ response: OpaquePointer, _ name: String, _ value: String) {
    MHD_add_response_header(response, name, value)
}

func destroyResponse(_ response: OpaquePointer) {
    MHD_destroy_response(response)
}

/// Files up to this size are sent from memory rather than with sendfile.
private let smallFileLimit: UInt64 = 64 * 1024

/// A response holding `length` bytes of `fd` from `offset` (nil if the file
/// got shorter: answering with fewer bytes than announced would be worse).
private func readSmallFile(_ fd: Int32, offset: UInt64, length: Int) -> OpaquePointer? {
    guard let buffer = malloc(max(length, 1)) else { return nil }
    var done = 0
    while done < length {
        let n = pread(fd, buffer + done, length - done, off_t(offset) + off_t(done))
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            free(buffer)
            return nil
        }
        done += n
    }
    // MUST_FREE: libmicrohttpd frees the buffer with free() when done.
    guard let response = MHD_create_response_from_buffer(length, buffer, .RESPMEM_MUST_FREE) else {
        free(buffer)
        return nil
    }
    return response
}

private func terminationReason(_ code: MHD_RequestTerminationCode) -> String {
    switch code {
    case .REQUEST_TERMINATED_COMPLETED_OK: return "completed"
    case .REQUEST_TERMINATED_WITH_ERROR: return "connection error"
    case .REQUEST_TERMINATED_TIMEOUT_REACHED: return "timed out"
    case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "server stopping"
    case .REQUEST_TERMINATED_READ_ERROR: return "connection closed by the client"
    case .REQUEST_TERMINATED_CLIENT_ABORT: return "client aborted"
    @unknown default: return "ended (\(code.rawValue))"
    }
}
