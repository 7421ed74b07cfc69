import Commands
import Logging
import SFTP
import SSH
import Synchronization
import SystemSupport

extension LabShell {
    /// `sftp lab`, `scp FILE lab:BOARD/` (DESIGN.md): `/` lists the lab's
    /// boards, and `/BOARD/…` is the caller's artifact space on that board's
    /// agent. The agent's SFTP server keeps the same paths, so requests pass
    /// through with only their handles tagged by agent. No reservation is
    /// needed, as for `upload`.
    public func sftp(_ client: SFTPSessionChannel, user: String, peer: String) {
        logger.info("ssh: \(user) from \(peer) opens sftp")
        SFTPServer.serve(client, SFTPProxy(shell: self, user: user, client: client))
    }
}

/// One user's SFTP session through the coordinator. Requests for a board
/// go to its agent over one SFTP channel per agent (opened on first use);
/// the agents' replies go back to the client from each channel's reader
/// thread, as they come. The root is answered here.
final class SFTPProxy: SFTPHandler, @unchecked Sendable {
    // @unchecked: `agents`, `folders` and `lastFolder` belong to the session's
    // thread (SFTPServer.serve); the reader threads touch only the channels.
    private let shell: LabShell
    private let user: String
    private let client: SFTPSessionChannel
    /// Agent name → its channel; their order gives each its handle tag.
    private var agents: [String: SFTPAgentChannel] = [:]
    private var tags: [SFTPAgentChannel] = []
    /// Listings of `/` being read: handle tag 0.
    private var folders: [UInt32: [SFTPName]] = [:]
    private var lastFolder: UInt32 = 0

    init(shell: LabShell, user: String, client: SFTPSessionChannel) {
        self.shell = shell
        self.user = user
        self.client = client
    }

    var extensions: [(String, String)] { SFTPServer.extensions }

    func finish(reason: String?) {
        // The agents see their channels close: uploads without CLOSE store nothing.
        for channel in tags { channel.remote.hangUp() }
        // What an agent said before that (a refusal's reason, on stderr, sent
        // with its STATUS) is passed on before this session ends: scp acts on
        // the STATUS and leaves at once, and a relay a moment behind lost
        // the reason now and then.
        let deadline = monotonicSeconds() + 2
        for channel in tags { channel.relayEnded.wait(timeout: max(0, deadline - monotonicSeconds())) }
        if let reason { shell.logger.warning("sftp: \(user): session ended: \(reason)") }
    }

    func answer(_ request: SFTPRequest) -> [UInt8]? {
        do throws(Refusal) {
            return try answer(request.id, request.operation)
        } catch {
            if error.tell { client.tell(error.message) }
            return SFTPReply.status(request.id, error.code, error.message)
        }
    }

    private func answer(_ id: UInt32, _ operation: SFTPRequest.Operation) throws(Refusal) -> [UInt8]? {
        switch operation {
        case .realpath(let path):
            let resolved = SFTPPath.text(SFTPPath.components(path))
            return SFTPReply.names(id, [SFTPName(filename: resolved, longname: resolved, attributes: SFTPAttributes())])
        case .stat(let path), .lstat(let path):
            let components = SFTPPath.components(path)
            guard components.count > 1 else {
                if let board = components.first { _ = try agent(for: board, telling: false) }
                return SFTPReply.attributes(id, Self.folder)
            }
            return try forward(id, to: components, operation)
        case .opendir(let path):
            let components = SFTPPath.components(path)
            guard components.isEmpty else { return try forward(id, to: components, operation) }
            lastFolder &+= 1
            folders[lastFolder] = shell.registry.boards().map { SFTPName($0.name, Self.folder, owner: user) }
            return SFTPReply.handle(id, [0] + Self.bytes(lastFolder))
        case .open(let path, let flags, _):
            return try forward(id, to: SFTPPath.components(path), operation, telling: flags.contains(.write))
        case .setstat(let path, _), .readlink(let path):
            return try forward(id, to: SFTPPath.components(path), operation)
        case .remove(let path), .mkdir(let path, _), .rmdir(let path):
            return try forward(id, to: SFTPPath.components(path), operation, telling: true)
        case .symlink:
            throw Refusal(.operationUnsupported, "the artifact space keeps no links")
        case .rename(let from, let to):
            return try forwardRename(id, from, to, operation)
        case .readdir(let handle):
            guard handle.first == 0 else { return try forward(id, handle: handle, operation) }
            let number = try Self.number(handle)
            guard let names = folders[number] else { throw Refusal(.failure, "no such handle") }
            guard !names.isEmpty else { return SFTPReply.status(id, .eof) }
            folders[number] = []
            return SFTPReply.names(id, names)
        case .close(let handle):
            guard handle.first == 0 else { return try forward(id, handle: handle, operation) }
            guard folders.removeValue(forKey: try Self.number(handle)) != nil else { throw Refusal(.failure, "no such handle") }
            return SFTPReply.status(id, .ok)
        case .fstat(let handle):
            guard handle.first == 0 else { return try forward(id, handle: handle, operation) }
            return SFTPReply.attributes(id, Self.folder)
        case .read(let handle, _, _), .write(let handle, _, _), .fsetstat(let handle, _):
            return try forward(id, handle: handle, operation, telling: true)
        case .extended(let name, let data):
            return try extended(id, name, data, operation)
        }
    }

    private func extended(_ id: UInt32, _ name: String, _ data: ArraySlice<UInt8>,
                          _ operation: SFTPRequest.Operation) throws(Refusal) -> [UInt8]? {
        var reader = SFTPReader(Array(data))
        func text() throws(Refusal) -> String {
            do throws(SFTPMalformed) { return try reader.text() } catch { throw Refusal(.badMessage, error.description) }
        }
        switch name {
        case "statvfs@openssh.com":
            let components = SFTPPath.components(try text())
            guard !components.isEmpty else {
                throw Refusal(.failure, "'/' holds the boards: ask about one (df BOARD), whose agent keeps your files", tell: true)
            }
            return try forward(id, to: components, operation)
        case "fstatvfs@openssh.com":
            let handle: [UInt8]
            do throws(SFTPMalformed) { handle = Array(try reader.string()) } catch { throw Refusal(.badMessage, error.description) }
            return try forward(id, handle: handle, operation)
        case "posix-rename@openssh.com":
            return try forwardRename(id, try text(), try text(), operation)
        case "limits@openssh.com":
            // The agents' own limits: requests pass through whole.
            return SFTPServer.limits(id)
        default:
            throw Refusal(.operationUnsupported, "'\(name)' is not supported")
        }
    }

    // MARK: Passing requests on

    /// Sends a request about `components` (`/BOARD/…`) to the board's agent,
    /// with its path resolved. `telling`: a refusal here is told on stderr
    /// (the agent tells its own).
    private func forward(_ id: UInt32, to components: [String], _ operation: SFTPRequest.Operation,
                         telling: Bool = false) throws(Refusal) -> [UInt8]? {
        guard let board = components.first else {
            throw Refusal(.permissionDenied, "'/' holds the boards, not files: use /BOARD/NAME", tell: telling)
        }
        let channel = try agent(for: board, telling: telling)
        let path = SFTPPath.text(components)
        var rewritten = operation
        switch operation {
        case .open(_, let flags, let attributes): rewritten = .open(path: path, flags: flags, attributes: attributes)
        case .stat: rewritten = .stat(path: path)
        case .lstat: rewritten = .lstat(path: path)
        case .opendir: rewritten = .opendir(path: path)
        case .setstat(_, let attributes): rewritten = .setstat(path: path, attributes: attributes)
        case .readlink: rewritten = .readlink(path: path)
        case .remove: rewritten = .remove(path: path)
        case .mkdir(_, let attributes): rewritten = .mkdir(path: path, attributes: attributes)
        case .rmdir: rewritten = .rmdir(path: path)
        case .extended(let name, _):
            var writer = SFTPWriter()
            writer.text(path)
            rewritten = .extended(name: name, data: writer.bytes[...])
        default: break
        }
        var audit: SFTPAgentChannel.Audit?
        switch operation {
        case .open(_, let flags, _) where flags.contains(.write): audit = .opening(board: board, name: components.dropFirst().joined(separator: "/"))
        case .remove: audit = .removing(board: board, name: components.dropFirst().joined(separator: "/"))
        default: break
        }
        return try send(SFTPRequest(id: id, rewritten), on: channel, audit: audit, telling: telling)
    }

    /// A request about an open handle goes to the agent that made it, with
    /// the agent's own handle.
    private func forward(_ id: UInt32, handle: [UInt8], _ operation: SFTPRequest.Operation,
                         telling: Bool = false) throws(Refusal) -> [UInt8]? {
        guard let tag = handle.first, tag > 0, Int(tag) <= tags.count else { throw Refusal(.failure, "no such handle") }
        let channel = tags[Int(tag) - 1]
        let own = Array(handle.dropFirst())
        var rewritten = operation
        var audit: SFTPAgentChannel.Audit?
        switch operation {
        case .close:
            rewritten = .close(handle: own)
            audit = channel.uploadClosing(handle)
        case .read(_, let offset, let length): rewritten = .read(handle: own, offset: offset, length: length)
        case .write(_, let offset, let data): rewritten = .write(handle: own, offset: offset, data: data)
        case .fstat: rewritten = .fstat(handle: own)
        case .fsetstat(_, let attributes): rewritten = .fsetstat(handle: own, attributes: attributes)
        case .readdir: rewritten = .readdir(handle: own)
        case .extended(let name, _):
            var writer = SFTPWriter()
            writer.string(own)
            rewritten = .extended(name: name, data: writer.bytes[...])
        default: break
        }
        return try send(SFTPRequest(id: id, rewritten), on: channel, audit: audit, telling: telling)
    }

    private func forwardRename(_ id: UInt32, _ from: String, _ to: String, _ operation: SFTPRequest.Operation) throws(Refusal) -> [UInt8]? {
        let source = SFTPPath.components(from), target = SFTPPath.components(to)
        guard let fromBoard = source.first, let toBoard = target.first else {
            throw Refusal(.permissionDenied, "'/' holds the boards, which cannot be renamed", tell: true)
        }
        let channel = try agent(for: fromBoard, telling: true)
        guard try agent(for: toBoard, telling: true) === channel else {
            throw Refusal(.failure, "\(fromBoard) and \(toBoard) are on different agents: a file moves within one agent's space", tell: true)
        }
        let rewritten: SFTPRequest.Operation
        if case .extended(let name, _) = operation {
            var writer = SFTPWriter()
            writer.text(SFTPPath.text(source))
            writer.text(SFTPPath.text(target))
            rewritten = .extended(name: name, data: writer.bytes[...])
        } else {
            rewritten = .rename(from: SFTPPath.text(source), to: SFTPPath.text(target))
        }
        return try send(SFTPRequest(id: id, rewritten), on: channel, audit: nil, telling: true)
    }

    private func send(_ request: SFTPRequest, on channel: SFTPAgentChannel, audit: SFTPAgentChannel.Audit?,
                      telling: Bool) throws(Refusal) -> [UInt8]? {
        guard channel.send(request, audit: audit) else {
            throw Refusal(.connectionLost, "the connection to agent \(channel.agent) broke", tell: telling)
        }
        return nil
    }

    /// The channel to the agent that has `board`, opened on first use.
    private func agent(for board: String, telling: Bool) throws(Refusal) -> SFTPAgentChannel {
        guard let status = shell.registry.board(board) else {
            let names = shell.registry.boards().map(\.name)
            throw Refusal(.noSuchFile, "no board '\(board)' (boards: \(names.joined(separator: ", ")))", tell: telling)
        }
        if let open = agents[status.agent], open.isOpen { return open }
        guard let link = shell.links[status.agent] else {
            throw Refusal(.failure, "\(board): agent \(status.agent) is not in the config", tell: telling)
        }
        let state = shell.registry.agentState(status.agent)
        guard state.online else {
            throw Refusal(.noConnection, "\(board) is offline: agent \(status.agent) does not answer (\(state.problem ?? "?"))", tell: telling)
        }
        guard tags.count < 250 else { throw Refusal(.failure, "too many agents in one session", tell: telling) }
        let channel: SFTPAgentChannel
        do {
            channel = try SFTPAgentChannel(link: link, user: user, tag: UInt8(tags.count + 1), client: client, shell: shell)
        } catch {
            throw Refusal(.noConnection, "\(board): agent \(status.agent) cannot be reached: \(error)", tell: telling)
        }
        agents[status.agent] = channel
        tags.append(channel)
        return channel
    }

    // MARK: Small things

    static let folder = SFTPAttributes(size: 0, permissions: SFTPAttributes.folderMode, modified: UInt32(clamping: Int64(wallClock())))

    static func bytes(_ number: UInt32) -> [UInt8] {
        [UInt8(number >> 24), UInt8(number >> 16 & 0xff), UInt8(number >> 8 & 0xff), UInt8(number & 0xff)]
    }

    static func number(_ handle: [UInt8]) throws(Refusal) -> UInt32 {
        guard handle.count == 5 else { throw Refusal(.failure, "no such handle") }
        return handle.dropFirst().reduce(0) { $0 << 8 | UInt32($1) }
    }

    struct Refusal: Error {
        var code: SFTPStatusCode
        var message: String
        /// Said on the client's stderr too (OpenSSH's clients show only the code).
        var tell: Bool

        init(_ code: SFTPStatusCode, _ message: String, tell: Bool = false) {
            self.code = code
            self.message = message
            self.tell = tell
        }
    }
}

/// One agent's SFTP channel in a proxied session: requests go in on the
/// session's thread; a reader thread sends each reply back to the client,
/// its handle tagged, and answers what was left unanswered if the agent
/// goes away. What it uploads and removes goes to the audit log once the
/// agent said it happened.
final class SFTPAgentChannel: Sendable {
    let agent: String
    let remote: SSHClientSession
    private let tag: UInt8
    private let state = Mutex(State())
    /// Signalled once the relay passed on all the agent sent and ended.
    let relayEnded = ThreadSignal()

    /// What a request will mean for the audit log once answered.
    enum Audit: Sendable {
        case opening(board: String, name: String)
        case removing(board: String, name: String)
        case closing(board: String, name: String)
    }

    private struct State {
        /// Requests sent and not answered yet, and what each means for the audit.
        var pending: [UInt32: Audit?] = [:]
        /// Handles (tagged) of uploads under way.
        var uploads: [[UInt8]: (board: String, name: String)] = [:]
        var open = true
    }

    init(link: AgentLink, user: String, tag: UInt8, client: SFTPSessionChannel, shell: LabShell) throws {
        agent = link.name
        self.tag = tag
        remote = try link.openSFTP(as: user)
        // INIT and VERSION here; the client got the coordinator's already.
        remote.write(SFTPWriter.packet(.initialize) { $0.uint32(3) })
        var framer = SFTPFramer()
        let deadline = monotonicSeconds() + 10
        while true {
            guard monotonicSeconds() < deadline else {
                remote.hangUp()
                throw SSHError("\(link.name): no SFTP version within 10 s")
            }
            switch remote.read(timeout: 0.5) {
            case .stdout(let bytes): framer.append(bytes)
            case .stderr, .timeout: break
            case .exit:
                throw SSHError("\(link.name): the agent ended the SFTP session at once")
            }
            if let packet = try? framer.next() {
                guard packet.first == SFTPPacketType.version.rawValue else {
                    remote.hangUp()
                    throw SSHError("\(link.name): the agent did not answer INIT with VERSION")
                }
                break
            }
        }
        let rest = framer
        try startThread(named: "sftp-\(link.name)") { [self] in relay(rest, to: client, shell: shell, user: user) }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    /// Sends one request; false when the agent is gone.
    func send(_ request: SFTPRequest, audit: Audit?) -> Bool {
        let open = state.withLock { state in
            if state.open { state.pending[request.id] = .some(audit) }
            return state.open
        }
        return open && remote.write(request.pieces)
    }

    /// The audit entry a CLOSE of `handle` (tagged) will make, if it is an upload's.
    func uploadClosing(_ handle: [UInt8]) -> Audit? {
        state.withLock { $0.uploads.removeValue(forKey: handle) }.map { .closing(board: $0.board, name: $0.name) }
    }

    /// The agent's replies to the client until the agent goes away; then
    /// every request still waiting is answered CONNECTION_LOST.
    private func relay(_ start: SFTPFramer, to client: SFTPSessionChannel, shell: LabShell, user: String) {
        defer { relayEnded.signal() }
        var framer = start
        reading: while true {
            switch remote.read(timeout: nil) {
            case .stdout(let bytes):
                framer.append(bytes)
                while let next = try? framer.nextPacket() {
                    let packet: [UInt8]
                    guard let head = try? SFTPReplyHead(packet: next) else { break reading }
                    let audit = state.withLock { $0.pending.removeValue(forKey: head.id) } ?? nil
                    if let handle = head.handle {
                        let tagged = [tag] + handle
                        packet = SFTPReply.handle(head.id, tagged)
                        if case .opening(let board, let name) = audit {
                            state.withLock { $0.uploads[tagged] = (board, name) }
                        }
                    } else {
                        packet = next.framed
                    }
                    if let status = head.status {
                        switch audit {
                        case .closing(let board, let name):
                            shell.reservations.record(user, "upload", board: board, name + " (sftp" + (status.code == 0 ? ")" : ", failed)"))
                        case .removing(let board, let name) where status.code == 0:
                            shell.reservations.record(user, "rm", board: board, name + " (sftp)")
                        default: break
                        }
                    }
                    client.send(packet)
                }
                if framer.pending > SFTPFramer.maxPacket + 4 { break reading }
            case .stderr(let bytes):
                // The agent's reasons for refusals, for the user.
                client.writeError(bytes)
            case .timeout:
                continue
            case .exit:
                break reading
            }
        }
        let unanswered = state.withLock { state in
            state.open = false
            defer { state.pending = [:] }
            return Array(state.pending.keys)
        }
        remote.hangUp()
        for id in unanswered.sorted() {
            client.send(SFTPReply.status(id, .connectionLost, "the connection to agent \(agent) broke"))
        }
        if !unanswered.isEmpty { client.tell("the connection to agent \(agent) broke") }
    }
}
