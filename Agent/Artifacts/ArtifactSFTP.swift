#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import SFTP
import SystemSupport

/// One user's SFTP session on an agent (DESIGN.md: `scp FILE lab:BOARD/`,
/// `sftp lab`): `/` holds a folder per board, and `/BOARD/…` is the user's
/// artifact space, the same for every board of this agent, so the
/// coordinator can pass paths through unchanged. Files come in as `upload`
/// brings them: into a hidden temp file, hashed as they come, counted
/// against the quota, and renamed into place with their sha256 sidecar at
/// CLOSE; a session that ends before CLOSE stores nothing.
///
/// One thread (the session's) calls it, so it keeps no locks.
public final class ArtifactSFTP: SFTPHandler {
    private let store: ArtifactStore
    private let user: String
    private let boards: [String]
    private let logger: Logger
    /// How the log names the session ("alice (sftp via coordinator lab)").
    private let who: String
    /// Tells the user why a change was refused, on the channel's stderr:
    /// OpenSSH's scp and sftp print only the status code's own words
    /// ("Failure"), never the server's message.
    private let complain: (String) -> Void
    private var handles: [UInt32: Open] = [:]
    private var lastHandle: UInt32 = 0

    /// Names per READDIR reply (each packet stays well under the packet limit).
    static let namesPerReply = 100

    private enum Open {
        case file(ArtifactFile)
        case upload(Upload)
        case folder([SFTPName])
    }

    private final class Upload {
        let upload: ArtifactUpload
        var next: UInt64 = 0
        /// Why it failed: the upload was discarded, and every later request says so.
        var failure: String?
        /// Opened over an existing file without TRUNC (OpenSSH's scp writes
        /// "in place", then sets the size): the old size, which the new file
        /// must reach unless the client set the size to what it wrote, or the
        /// file would lose its tail rather than be replaced.
        let covers: UInt64?
        var sizeSet = false

        init(_ upload: ArtifactUpload, covers: UInt64?) {
            self.upload = upload
            self.covers = covers
        }
    }

    public init(store: ArtifactStore, user: String, boards: [String], logger: Logger, via coordinator: String? = nil,
                complain: @escaping (String) -> Void = { _ in }) {
        self.complain = complain
        self.store = store
        self.user = user
        self.boards = boards
        self.logger = logger
        who = "\(user) (sftp\(coordinator.map { " via coordinator \($0)" } ?? ""))"
    }

    public var extensions: [(String, String)] { SFTPServer.extensions }

    public func finish(reason: String?) {
        for case .upload(let upload) in handles.values {
            upload.upload.abandon(reason: reason.map { "the SFTP session broke: \($0)" } ?? "the session ended before CLOSE")
        }
        handles.removeAll()
        if let reason { logger.warning("sftp: \(who): session ended: \(reason)") }
    }

    // MARK: Requests

    public func answer(_ request: SFTPRequest) -> [UInt8]? {
        let id = request.id
        do throws(Refusal) {
            return try answer(request.operation, id)
        } catch {
            // Only changes: scp's and sftp's own probes (a stat of the
            // target first) would say the same thing twice.
            if !error.repeated && Self.changes(request.operation) { complain(error.message) }
            return SFTPReply.status(id, error.code, error.message)
        }
    }

    /// Whether an operation would change the space (its refusals are told).
    private static func changes(_ operation: SFTPRequest.Operation) -> Bool {
        switch operation {
        case .write, .close, .remove, .rename, .mkdir, .rmdir: true
        case .open(_, let flags, _): flags.contains(.write)
        case .extended(let name, _): name == "posix-rename@openssh.com"
        default: false
        }
    }

    private func answer(_ operation: SFTPRequest.Operation, _ id: UInt32) throws(Refusal) -> [UInt8] {
        switch operation {
        case .realpath(let path):
            let resolved = SFTPPath.text(SFTPPath.components(path))
            return SFTPReply.names(id, [SFTPName(filename: resolved, longname: resolved, attributes: SFTPAttributes())])
        case .stat(let path), .lstat(let path):
            return SFTPReply.attributes(id, try attributes(of: place(path)))
        case .opendir(let path):
            return SFTPReply.handle(id, try open(.folder(listing(place(path)))))
        case .readdir(let handle):
            guard case .folder(let names) = try opened(handle) else { throw Refusal(.failure, "not a folder's handle") }
            guard !names.isEmpty else { return SFTPReply.status(id, .eof) }
            let batch = Array(names.prefix(Self.namesPerReply))
            handles[try number(handle)] = .folder(Array(names.dropFirst(batch.count)))
            return SFTPReply.names(id, batch)
        case .open(let path, let flags, _):
            return SFTPReply.handle(id, try openFile(place(path), flags))
        case .read(let handle, let offset, let length):
            guard case .file(let file) = try opened(handle) else { throw Refusal(.failure, "not a handle opened for reading") }
            return try read(file, offset: offset, length: length, id)
        case .write(let handle, let offset, let data):
            guard case .upload(let upload) = try opened(handle) else { throw Refusal(.failure, "not a handle opened for writing") }
            try write(upload, offset: offset, data)
            return SFTPReply.status(id, .ok)
        case .close(let handle):
            let open = try opened(handle)
            handles[try number(handle)] = nil
            if case .upload(let upload) = open { try complete(upload) }
            return SFTPReply.status(id, .ok)
        case .fstat(let handle):
            switch try opened(handle) {
            case .file(let file): return SFTPReply.attributes(id, Self.attributes(file.status))
            case .upload(let upload): return SFTPReply.attributes(id, SFTPAttributes(size: upload.next, permissions: SFTPAttributes.fileMode,
                                                                                     modified: UInt32(clamping: Int64(wallClock()))))
            case .folder: return SFTPReply.attributes(id, Self.folderAttributes(Int64(wallClock())))
            }
        case .setstat(_, let changes), .fsetstat(_, let changes):
            // Modes and times (scp -p, sftp put -p) are the agent's: files
            // are 0644 and dated when stored, which `files` shows. A size is
            // taken only as the end of an upload being written (scp's last
            // step); a file is never cut or grown in place.
            if case .setstat(let path, _) = operation { _ = try attributes(of: place(path)) }
            var upload: Upload?
            if case .fsetstat(let handle, _) = operation, case .upload(let open) = try opened(handle) { upload = open }
            if let size = changes.size {
                guard let upload, size == upload.next else {
                    throw Refusal(.operationUnsupported, "files are not cut or grown in place: send the whole file")
                }
                upload.sizeSet = true
            }
            return SFTPReply.status(id, .ok)
        case .remove(let path):
            let route = try route(place(path), for: "remove")
            try refusal { () throws(ArtifactRefusal) in try store.delete(route) }
            logger.info("sftp: \(who) removed \(route.space)\(route.path)")
            return SFTPReply.status(id, .ok)
        case .mkdir(let path, _):
            let route = try route(place(path), for: "mkdir")
            try refusal { () throws(ArtifactRefusal) in try store.makeFolder(route) }
            return SFTPReply.status(id, .ok)
        case .rmdir(let path):
            let route = try route(place(path), for: "rmdir")
            try refusal { () throws(ArtifactRefusal) in try store.removeFolder(route) }
            return SFTPReply.status(id, .ok)
        case .rename(let from, let to):
            try rename(from, to, replace: false)
            return SFTPReply.status(id, .ok)
        case .readlink, .symlink:
            throw Refusal(.operationUnsupported, "the artifact space keeps no links")
        case .extended(let name, let data):
            return try extended(name, data, id)
        }
    }

    private func extended(_ name: String, _ data: ArraySlice<UInt8>, _ id: UInt32) throws(Refusal) -> [UInt8] {
        var reader = SFTPReader(Array(data))
        func text() throws(Refusal) -> String {
            do throws(SFTPMalformed) { return try reader.text() } catch { throw Refusal(.badMessage, error.description) }
        }
        switch name {
        case "posix-rename@openssh.com":
            try rename(try text(), try text(), replace: true)
            return SFTPReply.status(id, .ok)
        case "statvfs@openssh.com":
            _ = try attributes(of: place(try text()))
            return statvfs(id)
        case "fstatvfs@openssh.com":
            let handle: [UInt8]
            do throws(SFTPMalformed) { handle = Array(try reader.string()) } catch { throw Refusal(.badMessage, error.description) }
            _ = try opened(handle)
            return statvfs(id)
        case "limits@openssh.com":
            return SFTPServer.limits(id)
        default:
            throw Refusal(.operationUnsupported, "'\(name)' is not supported")
        }
    }

    /// statvfs@openssh.com's reply: the user's room as `df` shows it, in 4 KiB blocks.
    private func statvfs(_ id: UInt32) -> [UInt8] {
        let room = store.room(for: user)
        let block: UInt64 = 4096
        return SFTPReply.extended(id) {
            $0.uint64(block)                  // f_bsize
            $0.uint64(block)                  // f_frsize
            $0.uint64(room.total / block)     // f_blocks
            $0.uint64(room.free / block)      // f_bfree
            $0.uint64(room.free / block)      // f_bavail
            $0.uint64(0)                      // f_files
            $0.uint64(0)                      // f_ffree
            $0.uint64(0)                      // f_favail
            $0.uint64(0)                      // f_fsid
            $0.uint64(0)                      // f_flag
            $0.uint64(UInt64(ArtifactRoute.maxComponentLength))  // f_namemax
        }
    }

    // MARK: Places

    /// Where a path leads: the root (the boards), or a board's view of the space.
    private enum Place {
        case root
        case space(board: String, components: [String])
    }

    private func place(_ path: String) throws(Refusal) -> Place {
        let components = SFTPPath.components(path)
        guard let board = components.first else { return .root }
        guard boards.contains(board) else {
            throw Refusal(.noSuchFile, "no board '\(board)' here (boards: \(boards.joined(separator: ", ")))")
        }
        return .space(board: board, components: Array(components.dropFirst()))
    }

    /// The route a place names, checked as `upload` checks names.
    private func route(_ place: Place, for what: String) throws(Refusal) -> ArtifactRoute {
        guard case .space(let board, let components) = place, !components.isEmpty else {
            if case .space(let board, _) = place { throw Refusal(.permissionDenied, "\(what): '/\(board)' is your space itself") }
            throw Refusal(.permissionDenied, "\(what): '/' holds the boards, not files")
        }
        return try refusal { () throws(ArtifactRefusal) in
            _ = board
            return try ArtifactRoute(user: user, name: components.joined(separator: "/"))
        }
    }

    private func spaceRoute(_ components: [String]) throws(Refusal) -> ArtifactRoute {
        guard !components.isEmpty else { return ArtifactRoute(space: .user(user), components: []) }
        return try refusal { () throws(ArtifactRefusal) in try ArtifactRoute(user: user, name: components.joined(separator: "/")) }
    }

    private func attributes(of place: Place) throws(Refusal) -> SFTPAttributes {
        guard case .space(_, let components) = place else { return Self.folderAttributes(Int64(wallClock())) }
        guard let entry = store.entry(try spaceRoute(components)) else {
            throw Refusal(.noSuchFile, "'\(SFTPPath.text(components))' not found in your space")
        }
        return entry.isFolder ? Self.folderAttributes(entry.modified)
            : SFTPAttributes(size: entry.size, permissions: SFTPAttributes.fileMode, modified: UInt32(clamping: entry.modified))
    }

    private func listing(_ place: Place) throws(Refusal) -> [SFTPName] {
        let now = Int64(wallClock())
        guard case .space(_, let components) = place else {
            return boards.map { SFTPName($0, Self.folderAttributes(now), owner: user) }
        }
        let route = try spaceRoute(components)
        if let entry = store.entry(route), !entry.isFolder {
            throw Refusal(.failure, "'\(SFTPPath.text(components))' is a file, not a folder")
        }
        let entries = try refusal { () throws(ArtifactRefusal) in try store.entries(in: route) }
        return [SFTPName(".", Self.folderAttributes(now), owner: user), SFTPName("..", Self.folderAttributes(now), owner: user)]
            + entries.map { entry in
                SFTPName(entry.name, entry.isFolder ? Self.folderAttributes(entry.modified)
                            : SFTPAttributes(size: entry.size, permissions: SFTPAttributes.fileMode, modified: UInt32(clamping: entry.modified)),
                         owner: user)
            }
    }

    // MARK: Files

    private func openFile(_ place: Place, _ flags: SFTPOpenFlags) throws(Refusal) -> [UInt8] {
        let route = try route(place, for: "open")
        let existing = store.entry(route)
        if existing?.isFolder == true { throw Refusal(.failure, "'\(route.path)' is a folder") }
        guard flags.contains(.write) else {
            let file = try refusal { () throws(ArtifactRefusal) in try store.openFile(route) }
            return try open(.file(file))
        }
        guard !flags.contains(.read) else { throw Refusal(.operationUnsupported, "a file is read or written, not both") }
        if let existing {
            if flags.contains(.exclusive) { throw Refusal(.failure, "'\(route.path)' exists already") }
            if flags.contains(.append) {
                throw Refusal(.operationUnsupported, "'\(route.path)' exists: files are sent whole, not resumed or appended to")
            }
        }
        guard handles.count < SFTPServer.maxHandles else { throw Refusal(.failure, "\(SFTPServer.maxHandles) handles are open already") }
        let upload = try refusal { () throws(ArtifactRefusal) in try store.beginUpload(route, user: user, expectedLength: nil) }
        let logger = self.logger, who = self.who
        upload.onEnd = { status, message in
            switch status {
            case 200, 201: logger.info("sftp: \(who): \(message)")
            default: logger.warning("sftp: \(who): \(message)")
            }
        }
        let covers = flags.contains(.truncate) ? nil : existing?.size
        return try open(.upload(Upload(upload, covers: covers)))
    }

    /// A DATA reply read straight into the packet (a READ is up to 255 KiB,
    /// and a download is thousands of them).
    private func read(_ file: ArtifactFile, offset: UInt64, length: UInt32, _ id: UInt32) throws(Refusal) -> [UInt8] {
        guard offset <= UInt64(Int64.max) else { return SFTPReply.status(id, .eof) }
        let count = min(Int(length), SFTPServer.maxTransfer)
        let header = 13  // length, type, id, the data's length
        var failure: Int32 = 0
        var packet = [UInt8](unsafeUninitializedCapacity: header + count) { buffer, initialized in
            var done = 0
            while done < count {
                let got = pread(file.descriptor, buffer.baseAddress! + header + done, count - done, off_t(offset) + off_t(done))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { failure = errno }
                if got <= 0 { break }
                done += got
            }
            initialized = header + done
        }
        guard failure == 0 else { throw Refusal(.failure, "reading '\(file.name)': \(SystemError("pread", code: failure).reason)") }
        let done = packet.count - header
        guard done > 0 || count == 0 else { return SFTPReply.status(id, .eof) }
        var writer = SFTPWriter(capacity: header)
        writer.uint32(UInt32(packet.count - 4))
        writer.byte(SFTPPacketType.data.rawValue)
        writer.uint32(id)
        writer.uint32(UInt32(done))
        packet.replaceSubrange(0..<header, with: writer.bytes)
        return packet
    }

    private func write(_ upload: Upload, offset: UInt64, _ data: ArraySlice<UInt8>) throws(Refusal) {
        if let failure = upload.failure { throw Refusal(.failure, failure, repeated: true) }
        guard offset == upload.next else {
            let message = "'\(upload.upload.route.path)': a write at \(offset) where \(upload.next) was next: files are sent in order; nothing was stored"
            upload.failure = message
            upload.upload.abandon(reason: "a write out of order")
            throw Refusal(.failure, message)
        }
        let refused = data.withUnsafeBytes { bytes -> ArtifactRefusal? in
            do throws(ArtifactRefusal) { try upload.upload.write(bytes) } catch { return error }
            return nil
        }
        if let refused {
            upload.failure = refused.message
            throw Refusal(.failure, refused.message)
        }
        upload.next += UInt64(data.count)
    }

    private func complete(_ upload: Upload) throws(Refusal) {
        if let failure = upload.failure { throw Refusal(.failure, failure, repeated: true) }
        if let covers = upload.covers, !upload.sizeSet, upload.next < covers {
            upload.upload.abandon(reason: "opened without truncating, and shorter than the file it would replace")
            throw Refusal(.failure, "'\(upload.upload.route.path)' was opened without truncating and only \(upload.next) of its "
                + "\(covers) bytes were written: nothing was stored (files are replaced whole)")
        }
        _ = try refusal { () throws(ArtifactRefusal) in try upload.upload.complete() }
    }

    private func rename(_ from: String, _ to: String, replace: Bool) throws(Refusal) {
        let source = try route(place(from), for: "rename")
        let target = try route(place(to), for: "rename")
        try refusal { () throws(ArtifactRefusal) in try store.move(source, to: target, replace: replace) }
        logger.info("sftp: \(who) renamed \(source.path) to \(target.path)")
    }

    // MARK: Handles

    private func open(_ open: Open) throws(Refusal) -> [UInt8] {
        guard handles.count < SFTPServer.maxHandles else { throw Refusal(.failure, "\(SFTPServer.maxHandles) handles are open already") }
        lastHandle &+= 1
        handles[lastHandle] = open
        return [UInt8(lastHandle >> 24), UInt8(lastHandle >> 16 & 0xff), UInt8(lastHandle >> 8 & 0xff), UInt8(lastHandle & 0xff)]
    }

    private func number(_ handle: [UInt8]) throws(Refusal) -> UInt32 {
        guard handle.count == 4 else { throw Refusal(.failure, "no such handle") }
        return handle.reduce(0) { $0 << 8 | UInt32($1) }
    }

    private func opened(_ handle: [UInt8]) throws(Refusal) -> Open {
        guard let open = handles[try number(handle)] else { throw Refusal(.failure, "no such handle") }
        return open
    }

    // MARK: Attributes and refusals

    static func folderAttributes(_ modified: Int64) -> SFTPAttributes {
        SFTPAttributes(size: 0, permissions: SFTPAttributes.folderMode, modified: UInt32(clamping: modified))
    }

    static func attributes(_ status: FileSystem.Status) -> SFTPAttributes {
        SFTPAttributes(size: status.size, permissions: status.isDirectory ? SFTPAttributes.folderMode : SFTPAttributes.fileMode,
                       modified: UInt32(clamping: status.modified))
    }

    /// A request answered with a status: its code and one line.
    struct Refusal: Error {
        var code: SFTPStatusCode
        var message: String
        /// The user was told already (the later writes of a failed upload).
        var repeated: Bool

        init(_ code: SFTPStatusCode, _ message: String, repeated: Bool = false) {
            self.code = code
            self.message = message
            self.repeated = repeated
        }
    }

    /// Runs a store call; its refusal becomes SFTP's nearest status, with
    /// the same line the HTTP server and `upload` give.
    private func refusal<T>(_ body: () throws(ArtifactRefusal) -> T) throws(Refusal) -> T {
        do throws(ArtifactRefusal) {
            return try body()
        } catch {
            switch error.status {
            case 404: throw Refusal(.noSuchFile, error.message)
            case 403: throw Refusal(.permissionDenied, error.message)
            default: throw Refusal(.failure, error.message)
            }
        }
    }
}
