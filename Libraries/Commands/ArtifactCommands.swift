import ArgumentParser
import ShellSupport

/// `upload BOARD NAME [--sha256 HEX] < FILE`: stdin into the caller's space.
public struct UploadCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "upload", abstract: "Store FILE as NAME in your space on the board's agent (verified, atomic).",
        usage: "upload BOARD NAME [--sha256 HEX] < FILE")

    @Argument(help: .board) public var board: String
    @Argument(help: ArgumentHelp("The file's name in your space (folders with /).", valueName: "NAME")) public var name: String
    @Option(help: ArgumentHelp("Refuse the file unless its SHA-256 is this.", valueName: "HEX")) public var sha256: String?

    public init() {}

    /// The digest in lower case.
    public var expectedSHA256: String? { sha256?.lowercased() }

    public func check() throws(ShellError) {
        if let sha256 = expectedSHA256, sha256.utf8.count != 64 || !sha256.utf8.allSatisfy(isHexDigit) {
            throw .usage("upload: the sha256 '\(sha256)' is not 64 hex digits")
        }
    }

    public var words: [String] { ["upload", board, name] + option("--sha256", expectedSHA256) }
    public var access: BoardAccess { .anyone }
    public var audit: (action: String, detail: String?)? { ("upload", name) }
    public var readsInput: Bool { true }
}

/// `files BOARD [--json]`: the caller's artifacts there.
public struct FilesCommand: BoardCommand {
    public static let configuration = CommandConfiguration(commandName: "files", abstract: "Your files: name, size, sha256, age.",
        usage: "files BOARD [--json]")

    @Argument(help: .board) public var board: String
    @Flag(help: "One line of JSON (docs/json.md).") public var json = false

    public init() {}

    public var words: [String] { ["files", board] + flag("--json", json) }
    public var access: BoardAccess { .anyone }
}

/// `rm BOARD NAME`: deletes one of the caller's artifacts.
public struct RmCommand: BoardCommand {
    public static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete one of your files.",
        usage: "rm BOARD NAME")

    @Argument(help: .board) public var board: String
    @Argument(help: ArgumentHelp("The file's name in your space.", valueName: "NAME")) public var name: String

    public init() {}

    public var words: [String] { ["rm", board, name] }
    public var access: BoardAccess { .anyone }
    public var audit: (action: String, detail: String?)? { ("rm", name) }
}

/// `token BOARD`: the caller's bearer token for HTTP uploads.
public struct TokenCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Your token for HTTP uploads to the board's agent (curl -T).",
        usage: "token BOARD")

    @Argument(help: .board) public var board: String

    public init() {}

    public var words: [String] { ["token", board] }
    public var access: BoardAccess { .anyone }
}

private func isHexDigit(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
}
