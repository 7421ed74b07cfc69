#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import Synchronization
import SystemSupport

/// A read-only TFTP server: RFC 1350 with options (RFC 2347), blksize (2348),
/// timeout and tsize (2349) and windowsize (7440).
///
/// One thread listens; every accepted read request gets its own socket (its
/// transfer ID) and thread, so clients are served at once and independently.
/// Bad requests are answered with an ERROR packet and logged, and the server
/// keeps serving.
public final class TFTPServer: Sendable {
    /// What the server reports about each request, for logs and job histories.
    public enum Event: Sendable {
        case refused(client: SocketAddress, filename: String?, TFTPRefusal)
        case finished(client: SocketAddress, filename: String, TFTPTransferOutcome, seconds: Double,
                      blockSize: Int, windowSize: Int)
    }

    private struct State {
        var stopping = false
        /// Active transfers by client transfer ID, with the file they fetch.
        var active: [SocketAddress: String] = [:]
    }

    public let localAddress: SocketAddress
    private let socket: UDPSocket
    private let provider: any TFTPFileProvider
    private let limits: TFTPLimits
    private let maxTransfers: Int
    private let logger: Logger
    private let onEvent: @Sendable (Event) -> Void
    private let wakeup: WakeupPipe
    private let state = Mutex(State())
    private let quietRefusals = QuietLog()

    /// Binds `address` at once, so a taken port or a missing permission
    /// fails here, at start, with the reason.
    public init(listeningOn address: SocketAddress, provider: any TFTPFileProvider, limits: TFTPLimits = TFTPLimits(),
                maxTransfers: Int = 256, logger: Logger, onEvent: @escaping @Sendable (Event) -> Void = { _ in }) throws {
        // No SO_REUSEADDR: on UDP it lets a second server bind the same port
        // (and the kernel hand out one ephemeral port twice), splitting requests.
        socket = try UDPSocket(boundTo: address)
        localAddress = try socket.localAddress()
        self.provider = provider
        self.limits = limits
        self.maxTransfers = maxTransfers
        self.logger = logger
        self.onEvent = onEvent
        wakeup = try WakeupPipe()
    }

    /// Serves until `stop()`. Blocks the calling thread: run it on its own.
    public func run() {
        logger.info("tftp: serving on \(localAddress)")
        var packet = [UInt8](repeating: 0, count: 65536)
        var fds = [pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)]
        while !state.withLock({ $0.stopping }) {
            guard poll(&fds, 2, -1) > 0 else { continue }
            if fds[1].revents != 0 { break }
            do {
                guard let (count, sender) = try packet.withUnsafeMutableBytes({ try socket.receiveFrom(into: $0) }) else { continue }
                packet.withUnsafeBytes { handle(UnsafeRawBufferPointer(rebasing: $0[..<count]), from: sender) }
            } catch {
                if let line = quietRefusals.admit("tftp: \(error)") { logger.warning("\(line)") }
            }
        }
    }

    /// Starts `run()` on a thread of its own.
    public func start() throws {
        try startThread(named: "tftp-listen") { [self] in run() }
    }

    /// Stops listening; transfers under way finish on their own.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
    }

    /// The number of transfers under way.
    public var activeTransfers: Int { state.withLock { $0.active.count } }

    private func handle(_ packet: UnsafeRawBufferPointer, from client: SocketAddress) {
        // An ERROR sent to the listening port gets no answer: answering could loop.
        // Nor does a stray DATA, ACK or OACK (e.g. a client acknowledging our
        // refusal): only requests and garbage are answered on this port.
        if packet.count >= 2 && packet[0] == 0, let opcode = TFTPOpcode(rawValue: UInt16(packet[1])),
           opcode != .readRequest && opcode != .writeRequest {
            logger.debug("tftp: ignoring a stray \(opcode) packet from \(client)")
            return
        }
        var filename: String?
        do {
            let request = try TFTPRequest(parsing: packet)
            filename = request.filename
            guard request.kind == .read else {
                throw TFTPRefusal(.accessViolation, "write requests are refused: this server only serves files")
            }
            try begin(request, for: client)
        } catch let refusal as TFTPRefusal {
            refuse(client, filename, refusal)
        } catch {
            refuse(client, filename, TFTPRefusal(.notDefined, "\(error)"))
        }
    }

    private func refuse(_ client: SocketAddress, _ filename: String?, _ refusal: TFTPRefusal) {
        let name = filename.map { "'\($0)' " } ?? ""
        // A flood of bad requests (from spoofed ports) is one line a second.
        if let line = quietRefusals.admit("tftp: refused \(name)from \(client): \(refusal.message)") { logger.warning("\(line)") }
        try? TFTPPacket.error(refusal.code, refusal.message).withUnsafeBytes { try socket.send($0, to: client) }
        onEvent(.refused(client: client, filename: filename, refusal))
    }

    private func begin(_ request: TFTPRequest, for client: SocketAddress) throws {
        enum Admission { case admit, repeated, busy, busyHere }
        let perAddress = limits.maxTransfersPerAddress
        let admission = state.withLock { state -> Admission in
            if state.active[client] == request.filename { return .repeated }
            if state.active.count >= maxTransfers { return .busy }
            return state.active.keys.count(where: { $0.host == client.host }) >= perAddress ? .busyHere : .admit
        }
        switch admission {
        case .repeated:
            // The client sent its request again before our first answer came.
            logger.debug("tftp: ignoring a repeated request for '\(request.filename)' from \(client)")
            return
        case .busy:
            throw TFTPRefusal(.notDefined, "server busy: \(maxTransfers) transfers under way, try again")
        case .busyHere:
            throw TFTPRefusal(.notDefined, "server busy: \(perAddress) transfers to \(client.host) under way, try again")
        case .admit:
            break
        }
        let file = try provider.open(request.filename, for: client)
        let size: Int?
        if request.mode == .octet {
            size = file.size
        } else {
            // Counting reads the whole file, here on the listening thread:
            // only for text-sized files (boot scripts); others get no tsize.
            size = request.options.contains { $0.name == "tsize" } && file.size <= 4 << 20 ? try file.netasciiSize() : nil
        }
        let negotiation = try TFTPNegotiation(options: request.options, transferSize: size, limits: limits)
        let transferSocket = try UDPSocket(boundTo: localAddress.withPort(0))
        try transferSocket.connect(to: client)
        state.withLock { $0.active[client] = request.filename }
        let transfer = TFTPTransfer(socket: transferSocket, negotiation: negotiation,
                                    maxRetransmissions: limits.maxRetransmissions)
        let mode = request.mode
        let name = request.filename
        logger.debug("tftp: sending '\(name)' (\(file.size) bytes) to \(client), blksize \(negotiation.blockSize), windowsize \(negotiation.windowSize)")
        do {
            try startThread(named: "tftp-transfer") { [self] in
                let started = monotonicSeconds()
                var source = FileSource(file)
                let outcome: TFTPTransferOutcome
                if mode == .octet {
                    outcome = transfer.run(source: &source)
                } else {
                    var netascii = NetasciiSource(source)
                    outcome = transfer.run(source: &netascii)
                }
                source.release()
                state.withLock { _ = $0.active.removeValue(forKey: client) }
                finish(name, client, outcome, seconds: monotonicSeconds() - started, negotiation)
            }
        } catch {
            state.withLock { _ = $0.active.removeValue(forKey: client) }
            throw error
        }
    }

    private func finish(_ name: String, _ client: SocketAddress, _ outcome: TFTPTransferOutcome, seconds: Double,
                        _ negotiation: TFTPNegotiation) {
        let tuning = "blksize \(negotiation.blockSize), windowsize \(negotiation.windowSize)"
        switch outcome {
        case .completed(let bytes, let retransmissions):
            let rate = seconds > 0 ? Double(bytes) / seconds / 1e6 : 0
            logger.info("tftp: sent '\(name)' to \(client): \(bytes) bytes in \(format(seconds)) s (\(format(rate)) MB/s), \(tuning), \(retransmissions) blocks sent again")
        case .abortedByClient(let code, let message):
            logger.notice("tftp: '\(name)' to \(client) ended by the client: error \(code) \(message)")
        case .failed(let reason):
            logger.warning("tftp: '\(name)' to \(client) failed: \(reason)")
        }
        onEvent(.finished(client: client, filename: name, outcome, seconds: seconds,
                          blockSize: negotiation.blockSize, windowSize: negotiation.windowSize))
    }
}

private func format(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
