#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// What is known of an uploaded file, kept beside it as `.NAME.sha256`
/// (one line: `SHA256 SIZE INODE`). Listing trusts it only while the file
/// still has that size and inode, so a replaced file never shows a stale sum.
struct Sidecar: Equatable {
    var sha256: String
    var size: UInt64
    var inode: UInt64

    static func name(for file: String) -> String { ".\(file).sha256" }

    /// Writes the sidecar of `file` in `folder`, atomically (temp + rename).
    /// Callers hold the store's commit lock, so the temp name is theirs alone.
    func write(for file: String, in folder: Int32) throws(SystemError) {
        let final = Self.name(for: file)
        let temporary = final + ".new"
        let fd = openat(folder, temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw SystemError("create \(temporary)") }
        let line = Array("\(sha256) \(size) \(inode)\n".utf8)
        let result = line.withUnsafeBytes { bytes in Result { () throws(SystemError) in try FileSystem.writeAll(fd, bytes) } }
        close(fd)
        if case .failure(let error) = result {
            unlinkat(folder, temporary, 0)
            throw error
        }
        guard renameat(folder, temporary, folder, final) == 0 else {
            let error = SystemError("rename \(temporary)")
            unlinkat(folder, temporary, 0)
            throw error
        }
    }

    static func read(for file: String, in folder: Int32) -> Sidecar? {
        let fd = openat(folder, name(for: file), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 160)
        let n = Glibc.read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        let fields = String(decoding: buffer[..<n], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, fields[0].utf8.count == 64, let size = UInt64(fields[1]), let inode = UInt64(fields[2]) else {
            return nil
        }
        return Sidecar(sha256: String(fields[0]), size: size, inode: inode)
    }

    static func remove(for file: String, in folder: Int32) {
        unlinkat(folder, name(for: file), 0)
    }
}
