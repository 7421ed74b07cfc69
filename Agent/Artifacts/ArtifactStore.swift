#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemSupport

/// The artifacts on disk:
///
///     DATA_DIR/users/USER/NAME            a user's artifact (folders allowed in NAME)
///     DATA_DIR/users/USER/.NAME.sha256    its sha256, size and inode, written before NAME appears
///     DATA_DIR/users/USER/.upload-…       an upload under way (removed if it fails)
///     DATA_DIR/shared/NAME                flasher images and other shared files, read-only here
///     DATA_DIR/tokens/USER                upload tokens (TokenStore)
///
/// Names starting with `.` are never served nor listed. Readers never see a
/// partial file: uploads are renamed into place complete and fsynced.
public final class ArtifactStore: Sendable {
    /// The data folder with every symlink resolved.
    public let dataDirectory: String
    /// Bytes each user may keep; nil: no limit.
    public let quota: UInt64?
    /// Serialises the renames of commits and deletes, so that a file and its
    /// sidecar always change together.
    let commitLock = Mutex(())
    /// Bytes reserved by uploads under way, per user (counted against the
    /// quota): an announced length at once, an unknown one as it comes.
    private let reservations = Mutex([String: UInt64]())
    /// An upload of unknown length reserves this much more of the quota each
    /// time its bytes pass what it holds (or what is left, when less).
    static let reservationStep: UInt64 = 8 << 20

    /// Creates `users/`, `shared/` and `tokens/` in `dataDirectory` when missing.
    public init(dataDirectory: String, quota: UInt64? = nil) throws {
        if mkdir(dataDirectory, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir \(dataDirectory)") }
        guard let resolved = realpath(dataDirectory, nil) else { throw SystemError("data folder \(dataDirectory)") }
        self.dataDirectory = String(cString: resolved)
        free(resolved)
        self.quota = quota
        for folder in ["users", "shared"] {
            let path = "\(self.dataDirectory)/\(folder)"
            if mkdir(path, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir \(path)") }
        }
    }

    public var tokensDirectory: String { "\(dataDirectory)/tokens" }

    /// Removes the temp files of uploads that an earlier run of the agent
    /// was writing when it stopped or died (`.upload-…`, never visible under
    /// a name, never counted): call once at start, before serving. Returns
    /// how many went.
    @discardableResult
    public func removeInterruptedUploads() -> Int {
        var folders = ["\(dataDirectory)/users"]
        var removed = 0
        while let folder = folders.popLast() {
            guard let listing = opendir(folder) else { continue }
            defer { closedir(listing) }
            while let entry = readdir(listing) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name != ".", name != ".." else { continue }
                let path = folder + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: folders.append(path)  // never a link: lstat
                case S_IFREG where name.hasPrefix(".upload-"): if unlink(path) == 0 { removed += 1 }
                default: break
                }
            }
        }
        return removed
    }

    /// The folder of a space (it may not exist yet for a user).
    public func folder(of space: ArtifactSpace) -> String {
        switch space {
        case .user(let name): return "\(dataDirectory)/users/\(name)"
        case .shared: return "\(dataDirectory)/shared"
        }
    }

    // MARK: Reading

    /// The path of a route's file.
    public func path(of route: ArtifactRoute) -> String {
        folder(of: route.space) + "/" + route.path
    }

    /// Opens a regular file for sending, refusing anything that resolves
    /// outside its space's folder (a symlink out of the root).
    public func openFile(_ route: ArtifactRoute) throws(ArtifactRefusal) -> ArtifactFile {
        let root = folder(of: route.space)
        let path = self.path(of: route)
        // O_NONBLOCK: a FIFO in the tree must not hang a server thread in open(2).
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: throw .notFound("'\(route.space)\(route.path)' not found")
            case EACCES, EPERM: throw .forbidden("'\(route.space)\(route.path)': permission denied")
            case ENAMETOOLONG: throw ArtifactRefusal(414, "the path is too long")
            default: throw ArtifactRefusal(500, "'\(route.space)\(route.path)': \(SystemError("open").reason)")
            }
        }
        guard let real = FileSystem.resolvedPath(of: fd), real.hasPrefix(root + "/") || real == root else {
            close(fd)
            throw .forbidden("'\(route.space)\(route.path)' leads out of its folder")
        }
        guard let status = FileSystem.status(of: fd), status.isRegular || status.isDirectory else {
            close(fd)
            throw .forbidden("'\(route.space)\(route.path)' is not a regular file")
        }
        return ArtifactFile(descriptor: fd, name: route.components.last ?? "", status: status)
    }

    /// Every artifact below the route's folder, recursively, sorted by name
    /// (relative to that folder); sha256 from the sidecars, never computed here.
    public func list(_ route: ArtifactRoute) throws(ArtifactRefusal) -> [ArtifactEntry] {
        let root = open(folder(of: route.space), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else {
            if case .user = route.space, route.components.isEmpty, errno == ENOENT { return [] }
            throw .notFound("'\(route.space)' not found")
        }
        var folder = root
        defer { close(folder) }
        for component in route.components {
            let next = FileSystem.openDirectory(component, in: folder)
            close(folder)
            folder = next
            guard folder >= 0 else { throw .notFound("folder '\(route.space)\(route.path)' not found") }
        }
        var entries: [ArtifactEntry] = []
        collect(in: folder, prefix: "", into: &entries, depth: 0)
        return entries.sorted { $0.name < $1.name }
    }

    /// `checksums`: read each file's sidecar for its sha256 (a listing does, the quota does not).
    private func collect(in folder: Int32, prefix: String, into entries: inout [ArtifactEntry], depth: Int,
                         checksums: Bool = true) {
        guard depth < 32 else { return }
        for name in FileSystem.names(in: folder) where !name.hasPrefix(".") {
            guard let status = FileSystem.status(of: name, in: folder) else { continue }
            if status.isDirectory {
                let child = FileSystem.openDirectory(name, in: folder)
                guard child >= 0 else { continue }
                collect(in: child, prefix: prefix + name + "/", into: &entries, depth: depth + 1, checksums: checksums)
                close(child)
            } else if status.isRegular {
                let sidecar = checksums ? Sidecar.read(for: name, in: folder) : nil
                let sha256 = sidecar.flatMap { $0.size == status.size && $0.inode == status.inode ? $0.sha256 : nil }
                entries.append(ArtifactEntry(name: prefix + name, size: status.size, sha256: sha256,
                                             modified: status.modified))
            }
        }
    }

    // MARK: Writing

    /// Starts an upload into `route` (a user's space): a hidden temp file in
    /// the target's folder, which `ArtifactUpload` fills, checks and renames.
    public func beginUpload(_ route: ArtifactRoute, user: String, expectedLength: UInt64?) throws(ArtifactRefusal) -> ArtifactUpload {
        guard let name = route.components.last, !route.namesFolder else {
            throw .badRequest("PUT needs a file name: /u/\(user)/NAME")
        }
        let length = expectedLength ?? 0
        let reserved = try reserve(length, atLeast: length, holding: 0, for: user, replacing: route)
        var parent: OpenFolder
        do {
            parent = try openFolder(route, create: true)
        } catch {
            release(reserved, for: user)
            throw error
        }
        if let status = FileSystem.status(of: name, in: parent.descriptor), status.isDirectory {
            parent.close()
            parent.removeCreated()
            release(reserved, for: user)
            throw ArtifactRefusal(409, "'\(route.space)\(route.path)' is a folder")
        }
        let temporary = ".upload-" + hexOf(randomBytes(8))
        let fd = openat(parent.descriptor, temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            let error = SystemError("create \(temporary)")
            parent.close()
            parent.removeCreated()
            release(reserved, for: user)
            throw Self.refusal(for: error, route)
        }
        return ArtifactUpload(store: self, route: route, user: user, folder: parent, temporaryName: temporary,
                              descriptor: fd, reserved: reserved)
    }

    /// More quota for an upload whose bytes pass what it holds: one more
    /// `reservationStep`, or what is left when that is less but still holds
    /// `total`. Returns what the upload holds now, or refuses with 507 as
    /// `beginUpload` does (the upload then releases what it held).
    func grow(_ upload: ArtifactUpload, holding held: UInt64, toHold total: UInt64) throws(ArtifactRefusal) -> UInt64 {
        guard quota != nil else { return total }
        let (stepped, overflow) = held.addingReportingOverflow(Self.reservationStep)
        let wanted = max(total, overflow ? .max : stepped)
        return try held + reserve(wanted - held, atLeast: total - held, holding: held, for: upload.user, replacing: upload.route)
    }

    /// Renames a complete, fsynced upload into place with its sidecar.
    /// Returns whether it replaced an existing file.
    func commit(_ upload: ArtifactUpload, sha256: String, status: FileSystem.Status) throws(ArtifactRefusal) -> Bool {
        let name = upload.route.components.last!
        let folder = upload.folder.descriptor
        return try commitLock.withLock { _ throws(ArtifactRefusal) -> Bool in
            let existing = FileSystem.status(of: name, in: folder)
            if existing?.isDirectory == true {
                throw ArtifactRefusal(409, "'\(upload.route.space)\(upload.route.path)' is a folder")
            }
            do {
                try Sidecar(sha256: sha256, size: status.size, inode: status.inode).write(for: name, in: folder)
                try systemCall("rename \(upload.temporaryName)") {
                    renameat(folder, upload.temporaryName, folder, name)
                }
            } catch {
                throw Self.refusal(for: error, upload.route)
            }
            _ = fsync(folder)
            return existing != nil
        }
    }

    /// Removes an artifact and its sidecar.
    public func delete(_ route: ArtifactRoute) throws(ArtifactRefusal) {
        guard let name = route.components.last, !route.namesFolder else {
            throw .badRequest("DELETE needs a file name")
        }
        let parent = try openFolder(route, create: false)
        defer { parent.close() }
        try commitLock.withLock { _ throws(ArtifactRefusal) in
            guard let status = FileSystem.status(of: name, in: parent.descriptor) else {
                throw .notFound("'\(route.space)\(route.path)' not found")
            }
            guard !status.isDirectory else { throw ArtifactRefusal(409, "'\(route.space)\(route.path)' is a folder") }
            do {
                try systemCall("unlink \(route.path)") { unlinkat(parent.descriptor, name, 0) }
            } catch {
                throw Self.refusal(for: error, route)
            }
            Sidecar.remove(for: name, in: parent.descriptor)
            _ = fsync(parent.descriptor)
        }
    }

    // MARK: Staging for jobs

    /// Puts a snapshot of an artifact at `destination` (a job's staging
    /// folder, which TFTP serves as `BOARD/…`): a hard link when the staging
    /// folder is on the same file system, a copy otherwise; renamed into
    /// place complete. A later upload of the same name leaves the staged
    /// file as it was. Returns the staged file's size.
    @discardableResult
    public func stage(_ route: ArtifactRoute, at destination: String) throws(ArtifactRefusal) -> UInt64 {
        let file = try openFile(route)
        guard file.status.isRegular else { throw .forbidden("'\(route.space)\(route.path)' is a folder") }
        let temporary = destination + ".staging-\(getpid())"
        unlink(temporary)
        if linkat(AT_FDCWD, "/proc/self/fd/\(file.descriptor)", AT_FDCWD, temporary, AT_SYMLINK_FOLLOW) != 0 {
            let target = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard target >= 0 else { throw ArtifactRefusal(500, "staging \(destination): \(SystemError("create").reason)") }
            defer { close(target) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(file.descriptor, $0.baseAddress, $0.count) }
                if count == 0 { break }
                guard count > 0 else {
                    if errno == EINTR { continue }
                    unlink(temporary)
                    throw ArtifactRefusal(500, "staging \(destination): \(SystemError("read").reason)")
                }
                do {
                    try buffer.withUnsafeBytes { try FileSystem.writeAll(target, UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                } catch {
                    unlink(temporary)
                    throw ArtifactRefusal(500, "staging \(destination): \(error)")
                }
            }
        }
        guard rename(temporary, destination) == 0 else {
            let error = SystemError("rename")
            unlink(temporary)
            throw ArtifactRefusal(500, "staging \(destination): \(error.reason)")
        }
        return file.status.size
    }

    // MARK: Quota

    /// Bytes in a user's artifacts (hidden files aside).
    public func usage(of user: String) -> UInt64 {
        let root = open(folder(of: .user(user)), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { return 0 }
        defer { close(root) }
        var entries: [ArtifactEntry] = []
        collect(in: root, prefix: "", into: &entries, depth: 0, checksums: false)
        return entries.reduce(0) { $0 + $1.size }
    }

    /// Reserves `wanted` bytes of the user's quota, or what is left when
    /// that is less but at least `minimum`; returns how many it reserved, or
    /// refuses with 507 when not even `minimum` fits. The file the upload
    /// replaces does not count; `held` is what the upload holds already.
    ///
    /// The user's folder is walked under the lock: a commit renames its file
    /// into place before it releases its reservation, so the walk sees every
    /// upload either as a file or as a reservation (or, for a moment, both).
    private func reserve(_ wanted: UInt64, atLeast minimum: UInt64, holding held: UInt64, for user: String,
                         replacing route: ArtifactRoute) throws(ArtifactRefusal) -> UInt64 {
        guard let quota else { return wanted }
        return try reservations.withLock { reserved throws(ArtifactRefusal) -> UInt64 in
            let replaced = (try? openFile(route)).map { $0.status.size } ?? 0
            let total = usage(of: user)
            let pending = reserved[user, default: 0]
            let (taken, overflow) = (total - min(replaced, total)).addingReportingOverflow(pending)
            let free = !overflow && quota > taken ? quota - taken : 0
            guard minimum <= free else {
                let others = overflow ? UInt64.max : taken - min(held, taken)
                throw ArtifactRefusal(507, "quota exceeded: \(user) uses \(others) of \(quota) bytes, the upload needs \(held + minimum)")
            }
            let granted = min(wanted, free)
            reserved[user] = pending + granted
            return granted
        }
    }

    func release(_ bytes: UInt64, for user: String) {
        guard quota != nil, bytes > 0 else { return }
        reservations.withLock { reserved in
            let left = reserved[user, default: 0] - min(bytes, reserved[user, default: 0])
            reserved[user] = left == 0 ? nil : left
        }
    }

    // MARK: Folders

    /// Opens the folder that holds the route's file (`whole`: the folder the
    /// route names), walking from the space's folder one component at a time
    /// without following symlinks; with `create`, missing folders are made
    /// (and remembered, to undo).
    func openFolder(_ route: ArtifactRoute, create: Bool, whole: Bool = false) throws(ArtifactRefusal) -> OpenFolder {
        guard case .user(let user) = route.space else { throw .forbidden("the shared space is read-only over HTTP") }
        let users = open("\(dataDirectory)/users", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard users >= 0 else { throw ArtifactRefusal(500, "\(SystemError("open \(dataDirectory)/users"))") }
        var folder = OpenFolder(descriptor: users, path: "\(dataDirectory)/users")
        for component in [user] + (whole ? route.components : route.components.dropLast()) {
            do {
                try folder.enter(component, create: create)
            } catch {
                folder.removeCreated()
                folder.close()
                switch error.code {
                case ENOENT: throw .notFound("folder of '\(route.space)\(route.path)' not found")
                case ENOTDIR: throw ArtifactRefusal(409, "'\(component)' in '\(route.space)\(route.path)' is a file, not a folder")
                case ELOOP: throw .forbidden("'\(component)' in '\(route.space)\(route.path)' is a symlink: writes do not follow symlinks")
                default: throw Self.refusal(for: error, route)
                }
            }
        }
        return folder
    }

    static func refusal(for error: any Error, _ route: ArtifactRoute) -> ArtifactRefusal {
        guard let error = error as? SystemError else { return ArtifactRefusal(500, "\(error)") }
        switch error.code {
        case ENOSPC, EDQUOT: return ArtifactRefusal(507, "the agent's disk is full: no room for '\(route.space)\(route.path)'")
        case EACCES, EPERM, EROFS: return .forbidden("'\(route.space)\(route.path)': \(error.reason)")
        default: return ArtifactRefusal(500, "'\(route.space)\(route.path)': \(error)")
        }
    }
}

/// A regular file (or folder) opened for reading; closed when the last
/// reference goes, unless its descriptor was handed on.
public final class ArtifactFile: @unchecked Sendable {
    // @unchecked: `descriptor` is taken at most once, by the thread answering the request.
    private(set) var descriptor: Int32
    public let name: String
    let status: FileSystem.Status

    init(descriptor: Int32, name: String, status: FileSystem.Status) {
        self.descriptor = descriptor
        self.name = name
        self.status = status
    }

    /// Gives the descriptor away (to a response that closes it).
    func take() -> Int32 {
        let fd = descriptor
        descriptor = -1
        return fd
    }

    deinit { if descriptor >= 0 { close(descriptor) } }
}

/// One line of a listing.
public struct ArtifactEntry: Equatable, Sendable {
    public var name: String
    public var size: UInt64
    /// Known for uploaded files; nil for files put there by other means.
    public var sha256: String?
    /// Seconds since the epoch.
    public var modified: Int64
}

/// The folder an upload or delete works in, and the folders made on the way.
struct OpenFolder: @unchecked Sendable {
    // @unchecked: owned by one request, used by one thread at a time.
    private(set) var descriptor: Int32
    private(set) var path: String
    /// Folders this request created, outermost first, to remove if it fails.
    private var created: [String] = []

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    mutating func enter(_ name: String, create: Bool) throws(SystemError) {
        var next = FileSystem.openDirectory(name, in: descriptor)
        if next < 0 && errno == ENOENT && create {
            if mkdirat(descriptor, name, 0o755) == 0 {
                created.append(path + "/" + name)
            } else if errno != EEXIST {
                throw SystemError("mkdir \(name)")
            }
            next = FileSystem.openDirectory(name, in: descriptor)
        }
        guard next >= 0 else {
            // A symlink where a folder should be: O_NOFOLLOW says ELOOP (or ENOTDIR with O_DIRECTORY).
            let code = errno
            if code == ENOTDIR, let status = FileSystem.status(of: name, in: descriptor), !status.isRegular {
                throw SystemError("open \(name)", code: ELOOP)
            }
            throw SystemError("open \(name)", code: code)
        }
        Glibc.close(descriptor)
        descriptor = next
        path += "/" + name
    }

    /// Removes the folders this request made, if they are still empty.
    func removeCreated() {
        for folder in created.reversed() { _ = rmdir(folder) }
    }

    func close() { Glibc.close(descriptor) }
}

func hexOf(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
