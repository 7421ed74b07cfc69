import AgentCore
import Artifacts
import ShellSupport
import SystemSupport

/// The caller's artifact space on this agent (DESIGN.md: `upload`, `files`,
/// `rm`, `token`): the same store and tokens the HTTP artifact server uses,
/// so quotas, sidecars and atomic renames are the same whichever way a file
/// comes in. No reservation is needed: people prepare before their slot.
public struct ShellArtifacts: Sendable {
    public let store: ArtifactStore
    public let tokens: TokenStore
    /// The agent's HTTP base as users reach it (`http.public_url`).
    public let publicURL: String

    public init(store: ArtifactStore, tokens: TokenStore, publicURL: String) {
        self.store = store
        self.tokens = tokens
        self.publicURL = publicURL
    }
}

extension AgentShell {
    /// `upload BOARD NAME [--sha256 HEX] < FILE`: stdin to the caller's space,
    /// stored under NAME only once all of it came, with EOF, and matched the
    /// announced sha256. A session that ends early stores nothing.
    func uploadCommand(_ command: UploadCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let sha256 = command.expectedSHA256
        let artifacts = try artifactSpace(for: "upload")
        guard !session.isTerminal else {
            throw .usage("upload: reads the file from stdin, not a terminal: ssh HOST upload \(board.config.name) \(command.name) < FILE")
        }
        let user = session.identity.user
        let route = try route(user: user, name: command.name, for: "upload")
        let upload: ArtifactUpload
        do {
            upload = try artifacts.store.beginUpload(route, user: user, expectedLength: nil)
        } catch {
            throw Self.shellError(error, "upload")
        }
        upload.expectedSHA256 = sha256
        let logger = self.logger
        let line = "upload: \(user) (ssh, for \(board.config.name))"
        upload.onEnd = { status, message in
            switch status {
            case 200, 201: logger.info("\(line): \(message)")
            default: logger.warning("\(line): \(message)")
            }
        }
        reading: while true {
            switch session.read(timeout: nil) {
            case .bytes(let bytes):
                let refusal = bytes.withUnsafeBytes { buffer -> ArtifactRefusal? in
                    do throws(ArtifactRefusal) { try upload.write(buffer) } catch { return error }
                    return nil
                }
                if let refusal { throw Self.shellError(refusal, "upload") }
            case .timeout:
                continue
            case .end:
                guard !session.streams.isClosed else {
                    upload.abandon(reason: "the connection closed before EOF")
                    throw .failure("upload: the connection closed before the end of the file; nothing was stored")
                }
                break reading
            }
        }
        let stored: StoredArtifact
        do {
            stored = try upload.complete()
        } catch {
            throw Self.shellError(error, "upload")
        }
        session.print("\(stored.replaced ? "replaced" : "stored") \(stored.name): \(byteCount(stored.size)), sha256 \(stored.sha256)\n")
    }

    /// `files BOARD [--json]`: the caller's artifacts: name, size, sha256, age.
    func filesCommand(_ command: FilesCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let artifacts = try artifactSpace(for: "files")
        let user = session.identity.user
        guard ArtifactRoute.isValidUserName(user) else { throw .failure("files: '\(user)' has no artifact space") }
        let entries: [ArtifactEntry]
        do {
            entries = try artifacts.store.list(ArtifactRoute(space: .user(user), components: [], namesFolder: true))
        } catch {
            throw Self.shellError(error, "files")
        }
        if json {
            session.print(listingJSON(entries))
            return
        }
        guard !entries.isEmpty else {
            session.print("no files (upload one: ssh HOST upload BOARD NAME < FILE)\n")
            return
        }
        let now = Int64(wallClock())
        let nameWidth = max(4, entries.map(\.name.count).max() ?? 0)
        var text = "NAME".padding(nameWidth) + "  " + "SIZE".padding(10, left: true) + "  SHA256            AGE\n"
        for entry in entries {
            let sha = entry.sha256.map { String($0.prefix(16)) } ?? "-".padding(16)
            text += entry.name.padding(nameWidth) + "  " + byteCount(entry.size).padding(10, left: true)
                + "  " + sha + "  " + age(now - entry.modified) + "\n"
        }
        session.print(text)
    }

    /// `rm BOARD NAME`: deletes one of the caller's artifacts and its sidecar.
    func rmCommand(_ command: RmCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let artifacts = try artifactSpace(for: "rm")
        let user = session.identity.user
        let route = try route(user: user, name: command.name, for: "rm")
        do {
            try artifacts.store.delete(route)
        } catch {
            throw Self.shellError(error, "rm")
        }
        logger.info("rm: \(user) removed \(route.space)\(route.path)")
        session.print("removed \(route.path)\n")
    }

    /// `token BOARD`: the caller's bearer token for HTTP uploads to this
    /// agent (made on first use), alone on stdout; how to use it on stderr
    /// when a person is watching.
    func tokenCommand(_ command: TokenCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let artifacts = try artifactSpace(for: "token")
        let user = session.identity.user
        guard ArtifactRoute.isValidUserName(user) else { throw .failure("token: '\(user)' has no artifact space") }
        let token: String
        do {
            token = try artifacts.tokens.token(for: user)
        } catch {
            throw .failure("token: \(error)")
        }
        session.print(token + "\n")
        if session.isTerminal {
            session.print("upload with: curl -T FILE -H 'Authorization: Bearer \(token)' \(artifacts.publicURL)/u/\(user)/NAME\n")
        }
    }

    func artifactSpace(for command: String) throws(ShellError) -> ShellArtifacts {
        guard let artifacts else { throw .failure("\(command): this agent keeps no artifacts") }
        return artifacts
    }

    func route(user: String, name: String, for command: String) throws(ShellError) -> ArtifactRoute {
        do {
            return try ArtifactRoute(user: user, name: name)
        } catch {
            throw Self.shellError(error, command)
        }
    }

    /// A bad name is the caller's mistake (2); the rest are failures (1).
    static func shellError(_ refusal: ArtifactRefusal, _ command: String) -> ShellError {
        switch refusal.status {
        case 400, 403, 414: return .usage("\(command): \(refusal.message)")
        default: return .failure("\(command): \(refusal.message)")
        }
    }
}

/// "512 B", "4.0 KiB", "1.5 GiB".
func byteCount(_ bytes: UInt64) -> String {
    if bytes < 1024 { return "\(bytes) B" }
    var value = Double(bytes) / 1024
    for unit in ["KiB", "MiB", "GiB"] {
        if value < 1024 { return formatted(value) + " " + unit }
        value /= 1024
    }
    return formatted(value) + " TiB"
}

/// One decimal, without Foundation.
private func formatted(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

/// "42s", "5m", "3h", "2d".
func age(_ seconds: Int64) -> String {
    let seconds = max(0, seconds)
    if seconds < 60 { return "\(seconds)s" }
    if seconds < 3600 { return "\(seconds / 60)m" }
    if seconds < 86400 { return "\(seconds / 3600)h" }
    return "\(seconds / 86400)d"
}

extension String {
    func padding(_ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - count))
        return left ? fill + self : self + fill
    }
}
