import HTTPDaemon
import Synchronization

/// Small files' responses, ready to send: a hit costs one stat(2) instead of
/// open, readlink, fstat, read and close. An entry is used only while the
/// path still leads to the very same inode, unchanged (device, inode, size,
/// mtime, ctime), so a replaced or edited file is read afresh, and a path
/// that now leads elsewhere (a symlink swapped in) misses and is checked
/// again by `ArtifactStore.openFile`.
final class SmallFileCache: Sendable {
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: UInt64
        var modifiedNanoseconds: Int64
        var changedNanoseconds: Int64

        init(_ status: FileSystem.Status) {
            device = status.device
            inode = status.inode
            size = status.size
            modifiedNanoseconds = status.modifiedNanoseconds
            changedNanoseconds = status.changedNanoseconds
        }
    }

    struct Entry: Sendable {
        var identity: Identity
        var body: HTTPCachedBody
        var tag: String
        var modified: Int64
    }

    /// Files up to this size are kept.
    static let maxFileSize: UInt64 = 64 * 1024
    private let capacity: Int
    private let state = Mutex((entries: [String: Entry](), bytes: 0))

    /// `capacity`: bytes of file content kept at most.
    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The entry for `path` if the file there is still the one cached.
    func lookup(_ path: String) -> Entry? {
        guard let entry = state.withLock({ $0.entries[path] }) else { return nil }
        guard let status = FileSystem.status(ofPath: path), Identity(status) == entry.identity else {
            remove(path)
            return nil
        }
        return entry
    }

    func insert(_ entry: Entry, for path: String) {
        guard entry.body.length <= capacity else { return }
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: path) { state.bytes -= old.body.length }
            if state.bytes + entry.body.length > capacity {
                state.entries.removeAll()  // simple and rare: the working set is re-read on demand
                state.bytes = 0
            }
            state.entries[path] = entry
            state.bytes += entry.body.length
        }
    }

    private func remove(_ path: String) {
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: path) { state.bytes -= old.body.length }
        }
    }
}
