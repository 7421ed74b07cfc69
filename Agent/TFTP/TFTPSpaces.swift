import SystemSupport

/// The agent's TFTP name space (DESIGN.md, "Holders and TFTP"): the first
/// component of a name picks a folder (`shared/…`, `BOARD/…` for what a job
/// staged for that board); any other name is looked up in the folder the
/// client's address maps to (the artifact space of the holder of the board
/// with that `board_ip`), if any. Every folder is resolved anew for each
/// request, so folders created later are served, and the `..` and symlink
/// rules of `TFTPDirectory` hold inside each.
public struct TFTPSpaces: TFTPFileProvider {
    private let prefixes: [String: String]
    private let fallback: @Sendable (SocketAddress) -> String?

    /// - Parameters:
    ///   - prefixes: first name component → folder.
    ///   - fallback: the folder for other names, by client address; nil: none.
    public init(prefixes: [String: String], fallback: @escaping @Sendable (SocketAddress) -> String? = { _ in nil }) {
        self.prefixes = prefixes
        self.fallback = fallback
    }

    public func open(_ requested: String, for client: SocketAddress) throws(TFTPRefusal) -> TFTPOpenFile {
        let relative = try TFTPDirectory.relativePath(requested)
        var components = relative.split(separator: "/", maxSplits: 1).map(String.init)
        let folder: String
        if let prefixed = prefixes[components[0]], components.count == 2 {
            folder = prefixed
            components.removeFirst()
        } else if let own = fallback(client) {
            folder = own
        } else {
            throw TFTPRefusal(.fileNotFound, "'\(relative)' not found")
        }
        guard let root = try? TFTPDirectory(root: folder) else {
            throw TFTPRefusal(.fileNotFound, "'\(relative)' not found")
        }
        return try TFTPDirectory.openRegularFile(components.joined(separator: "/"), under: root.root, name: relative)
    }
}
