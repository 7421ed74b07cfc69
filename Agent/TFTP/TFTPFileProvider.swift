#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A file opened for a transfer; closed when the last reference goes.
public final class TFTPOpenFile: Sendable {
    public let descriptor: Int32
    /// The size in bytes when it was opened.
    public let size: Int
    /// The path under the root, for logs.
    public let name: String

    public init(descriptor: Int32, size: Int, name: String) {
        self.descriptor = descriptor
        self.size = size
        self.name = name
    }

    deinit { close(descriptor) }

    /// read(2), retried on EINTR and until the buffer is full or the file ends.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = try systemCall("read \(name)") {
                Glibc.read(descriptor, buffer.baseAddress! + total, buffer.count - total)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// The size this file has in netascii: every LF and CR becomes two bytes.
    public func netasciiSize() throws -> Int {
        var counts = (lf: 0, cr: 0)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        var offset = 0
        while true {
            let n = try systemCall("pread \(name)") { pread(descriptor, chunk.baseAddress, chunk.count, off_t(offset)) }
            if n == 0 { break }
            for byte in UnsafeRawBufferPointer(rebasing: chunk[..<n]) {
                if byte == 0x0a { counts.lf += 1 } else if byte == 0x0d { counts.cr += 1 }
            }
            offset += n
        }
        return NetasciiSource<FileSource>.convertedSize(count: offset, lineFeeds: counts.lf, carriageReturns: counts.cr)
    }
}

/// Maps a requested name to a file. The agent's daemon decides by the
/// client's address (a board's holder); `TFTPDirectory` serves one folder.
public protocol TFTPFileProvider: Sendable {
    func open(_ requested: String, for client: SocketAddress) throws(TFTPRefusal) -> TFTPOpenFile
}

/// Serves the regular files below one folder, as `tftpd-hpa -s` does:
/// absolute names are taken under the root, `..` is refused, and a symlink
/// is followed only while it stays inside the root.
public struct TFTPDirectory: TFTPFileProvider {
    /// The root with every symlink resolved.
    public let root: String

    public init(root: String) throws {
        guard let resolved = realpath(root, nil) else { throw SystemError("tftp root \(root)") }
        defer { free(resolved) }
        self.root = String(cString: resolved)
        var info = stat()
        guard stat(self.root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw SystemError("tftp root \(root)", code: ENOTDIR)
        }
    }

    /// The path below the root that `requested` names, or the refusal.
    public static func relativePath(_ requested: String) throws(TFTPRefusal) -> String {
        var components: [Substring] = []
        for component in requested.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": throw TFTPRefusal(.accessViolation, "'..' is not allowed in '\(requested)'")
            default: components.append(component)
            }
        }
        guard !components.isEmpty, !requested.hasSuffix("/") else {
            throw TFTPRefusal(.fileNotFound, "'\(requested)' names no file")
        }
        return components.joined(separator: "/")
    }

    public func open(_ requested: String, for client: SocketAddress) throws(TFTPRefusal) -> TFTPOpenFile {
        let relative = try Self.relativePath(requested)
        return try Self.openRegularFile(relative, under: root)
    }

    /// Opens `relative` below `root` (a resolved path) for reading, refusing
    /// what is not a regular file and anything that resolves outside `root`.
    /// `name` is what logs and errors call it (default: `relative`).
    public static func openRegularFile(_ relative: String, under root: String,
                                       name: String? = nil) throws(TFTPRefusal) -> TFTPOpenFile {
        let shown = name ?? relative
        let path = root == "/" ? "/" + relative : root + "/" + relative
        // O_NONBLOCK: a FIFO in the tree must not hang the server in open(2).
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let error = errno
            switch error {
            case ENOENT, ENOTDIR: throw TFTPRefusal(.fileNotFound, "'\(shown)' not found")
            case EACCES, EPERM: throw TFTPRefusal(.accessViolation, "'\(shown)': permission denied")
            default: throw TFTPRefusal(.notDefined, "'\(shown)': \(SystemError("open", code: error).reason)")
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw TFTPRefusal(.accessViolation, "'\(shown)' is not a regular file")
        }
        // Where the descriptor really points, after every symlink: inside the root?
        guard let real = resolvedPath(of: fd), real.hasPrefix(root == "/" ? "/" : root + "/") else {
            close(fd)
            throw TFTPRefusal(.accessViolation, "'\(shown)' leads out of the TFTP root")
        }
        _ = fcntl(fd, F_SETFL, O_RDONLY)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        return TFTPOpenFile(descriptor: fd, size: Int(info.st_size), name: shown)
    }

    private static func resolvedPath(of fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
