#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Digest
import SystemSupport

/// Each user's bearer token for uploads: DATA_DIR/tokens/USER (mode 0600,
/// the folder 0700), 32 random bytes as hex, created on first use.
public struct TokenStore: Sendable {
    public let directory: String

    /// `directory` is created (0700) when missing.
    public init(directory: String) throws {
        self.directory = directory
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir \(directory)") }
    }

    /// The user's token, created now if the user has none. Safe against a
    /// concurrent first use: the file is created with O_EXCL, and the loser reads it.
    public func token(for user: String) throws -> String {
        precondition(ArtifactRoute.isValidUserName(user), "token(for:) needs a valid user name")
        if let existing = existingToken(for: user) { return existing }
        let token = hexString(randomBytes(32))
        let path = self.path(for: user)
        let temporary = "\(directory)/.\(user).\(getpid()).\(UInt32.random(in: 0 ... .max))"
        let fd = try systemCall("create \(temporary)") {
            open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        }
        let line = token + "\n"
        let written = line.withCString { write(fd, $0, line.utf8.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == line.utf8.count, synced == 0 else {
            unlink(temporary)
            throw SystemError("write \(temporary)")
        }
        // link(2) fails with EEXIST when another caller won the race: theirs stands.
        let linked = link(temporary, path)
        let code = errno
        unlink(temporary)
        if linked != 0 && code != EEXIST { throw SystemError("link \(path)", code: code) }
        guard let stored = existingToken(for: user) else { throw SystemError("read \(path)", code: ENOENT) }
        return stored
    }

    /// The user's token if one was created.
    public func existingToken(for user: String) -> String? {
        guard ArtifactRoute.isValidUserName(user) else { return nil }
        let fd = open(path(for: user), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n], as: UTF8.self).trimmingSpaces()
        let token = text.hasSuffix("\n") ? String(text.dropLast()) : String(text)
        return token.isEmpty ? nil : token
    }

    /// Whether `presented` is the user's token, compared in constant time.
    public func verify(_ presented: String, for user: String) -> Bool {
        guard let expected = existingToken(for: user) else { return false }
        return constantTimeEqual(Array(presented.utf8), Array(expected.utf8))
    }

    private func path(for user: String) -> String { "\(directory)/\(user)" }
}

