#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// What SFTP needs of a user's space beyond upload, list and delete: one
/// folder's entries, one name's status, folders made and removed, renames
/// (a file moves with its sidecar), and the room left. Every walk goes one
/// component at a time without following symlinks, as uploads do.
extension ArtifactStore {
    /// A name in a folder of a user's space.
    public struct FolderEntry: Sendable, Equatable {
        public var name: String
        public var isFolder: Bool
        public var size: UInt64
        /// Seconds since the epoch.
        public var modified: Int64
    }

    /// The files and folders directly in the folder `route` names (hidden
    /// names aside), sorted by name. The user's own folder, before the first
    /// upload made it, is empty.
    public func entries(in route: ArtifactRoute) throws(ArtifactRefusal) -> [FolderEntry] {
        let folder: OpenFolder
        do {
            folder = try openFolder(route, create: false, whole: true)
        } catch {
            if route.components.isEmpty, error.status == 404 { return [] }
            throw error
        }
        defer { folder.close() }
        var entries: [FolderEntry] = []
        for name in FileSystem.names(in: folder.descriptor) where !name.hasPrefix(".") {
            guard let status = FileSystem.status(of: name, in: folder.descriptor), status.isDirectory || status.isRegular else { continue }
            entries.append(FolderEntry(name: name, isFolder: status.isDirectory, size: status.isDirectory ? 0 : status.size,
                                       modified: status.modified))
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// The file or folder `route` names, without following a symlink; nil
    /// when there is none (or it is neither).
    public func entry(_ route: ArtifactRoute) -> FolderEntry? {
        guard let name = route.components.last else {
            guard case .user(let user) = route.space else { return nil }
            let status = FileSystem.status(ofPath: folder(of: .user(user)))
            return FolderEntry(name: "", isFolder: true, size: 0, modified: status?.modified ?? Int64(wallClock()))
        }
        guard let parent = try? openFolder(route, create: false) else { return nil }
        defer { parent.close() }
        guard let status = FileSystem.status(of: name, in: parent.descriptor), status.isDirectory || status.isRegular else { return nil }
        return FolderEntry(name: name, isFolder: status.isDirectory, size: status.isDirectory ? 0 : status.size, modified: status.modified)
    }

    /// Makes the folder `route` names; its parent must exist.
    public func makeFolder(_ route: ArtifactRoute) throws(ArtifactRefusal) {
        guard let name = route.components.last else { throw ArtifactRefusal(409, "'\(route.space)' exists already") }
        let parent = try openFolder(route, create: route.components.count == 1)
        defer { parent.close() }
        guard mkdirat(parent.descriptor, name, 0o755) == 0 else {
            if errno == EEXIST { throw ArtifactRefusal(409, "'\(route.space)\(route.path)' exists already") }
            throw Self.refusal(for: SystemError("mkdir \(name)"), route)
        }
    }

    /// Removes the empty folder `route` names.
    public func removeFolder(_ route: ArtifactRoute) throws(ArtifactRefusal) {
        guard let name = route.components.last else { throw .forbidden("your space itself cannot be removed") }
        let parent = try openFolder(route, create: false)
        defer { parent.close() }
        guard let status = FileSystem.status(of: name, in: parent.descriptor) else {
            throw .notFound("'\(route.space)\(route.path)' not found")
        }
        guard status.isDirectory else { throw ArtifactRefusal(409, "'\(route.space)\(route.path)' is not a folder") }
        guard unlinkat(parent.descriptor, name, AT_REMOVEDIR) == 0 else {
            if errno == ENOTEMPTY || errno == EEXIST { throw ArtifactRefusal(409, "'\(route.space)\(route.path)' is not empty") }
            throw Self.refusal(for: SystemError("rmdir \(name)"), route)
        }
    }

    /// Renames a file (with its sidecar) or a folder inside one space.
    /// `replace`: an existing file at `to` is replaced (POSIX rename);
    /// otherwise an existing name refuses it (SFTP's own rename).
    public func move(_ from: ArtifactRoute, to: ArtifactRoute, replace: Bool) throws(ArtifactRefusal) {
        guard from.space == to.space, case .user = from.space else { throw .forbidden("renames stay inside one space") }
        guard let oldName = from.components.last, let newName = to.components.last else {
            throw .forbidden("your space itself cannot be renamed")
        }
        guard to.components.count < from.components.count || Array(to.components.prefix(from.components.count)) != from.components else {
            throw .badRequest("'\(from.path)' cannot move into itself")
        }
        let source = try openFolder(from, create: false)
        defer { source.close() }
        let target = try openFolder(to, create: false)
        defer { target.close() }
        try commitLock.withLock { _ throws(ArtifactRefusal) in
            guard let moving = FileSystem.status(of: oldName, in: source.descriptor), moving.isRegular || moving.isDirectory else {
                throw .notFound("'\(from.space)\(from.path)' not found")
            }
            if let existing = FileSystem.status(of: newName, in: target.descriptor) {
                guard replace else { throw ArtifactRefusal(409, "'\(to.space)\(to.path)' exists already") }
                guard existing.isDirectory == moving.isDirectory else {
                    throw ArtifactRefusal(409, "'\(to.space)\(to.path)' is a \(existing.isDirectory ? "folder" : "file")")
                }
            }
            guard renameat(source.descriptor, oldName, target.descriptor, newName) == 0 else {
                throw Self.refusal(for: SystemError("rename \(from.path)"), from)
            }
            if moving.isRegular {
                // The sum goes with its file (its inode is unchanged), or the
                // replaced file's sum goes.
                if renameat(source.descriptor, Sidecar.name(for: oldName), target.descriptor, Sidecar.name(for: newName)) != 0 {
                    Sidecar.remove(for: newName, in: target.descriptor)
                }
            }
            _ = fsync(source.descriptor)
            _ = fsync(target.descriptor)
        }
    }

    /// A user's room: (bytes in all, bytes free), the quota against the
    /// user's usage when there is one, capped by the disk's free space.
    public func room(for user: String) -> (total: UInt64, free: UInt64) {
        var disk = statvfs()
        let diskFree: UInt64, diskTotal: UInt64
        if statvfs(dataDirectory, &disk) == 0 {
            let size = UInt64(disk.f_frsize)
            diskFree = UInt64(disk.f_bavail).multipliedReportingOverflow(by: size).overflow ? .max : UInt64(disk.f_bavail) * size
            diskTotal = UInt64(disk.f_blocks).multipliedReportingOverflow(by: size).overflow ? .max : UInt64(disk.f_blocks) * size
        } else {
            (diskFree, diskTotal) = (0, 0)
        }
        guard let quota else { return (diskTotal, diskFree) }
        let used = usage(of: user)
        return (quota, min(diskFree, quota - min(used, quota)))
    }
}
