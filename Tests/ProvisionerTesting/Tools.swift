import Foundation

/// Programs the tests run: our own built binaries and the real peers
/// (TESTING.md) installed on the machine.
public enum Tools {
    /// The folder with the built binaries: `PROVISIONER_BIN_DIR` when set,
    /// else `.build/debug` of this package (found from this file's path).
    public static var binaryDirectory: String {
        if let folder = ProcessInfo.processInfo.environment["PROVISIONER_BIN_DIR"], !folder.isEmpty {
            return folder
        }
        // …/Tests/ProvisionerTesting/Tools.swift → the package root is three levels up.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }

    /// The package root, for files the tests read from the repository (examples/).
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// The path of one of our binaries; throws, saying how to build it, when missing.
    public static func binary(_ name: String) throws -> String {
        let path = binaryDirectory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSetupError("\(path) is missing: run `swift build` first (or set PROVISIONER_BIN_DIR)")
        }
        return path
    }

    public static func agent() throws -> String { try binary("provisioner-agent") }
    public static func coordinator() throws -> String { try binary("provisioner-coordinator") }
    public static func flasher() throws -> String { try binary("provisioner-flasher") }

    /// The path of a program found in PATH (or the standard system folders), or nil.
    public static func path(of name: String) -> String? {
        let searched = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        for folder in searched where !folder.isEmpty {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether a program is installed, for `.enabled(if:)`.
    public static func isInstalled(_ name: String) -> Bool { path(of: name) != nil }

    /// A path as given, or a bare name looked up in PATH.
    public static func resolve(_ executable: String) throws -> String {
        if executable.contains("/") { return executable }
        guard let path = path(of: executable) else {
            throw TestSetupError("\(executable) is not installed (see TESTING.md for the packages CI installs)")
        }
        return path
    }
}
