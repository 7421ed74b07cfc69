import Foundation
import ProvisionerTesting
import ProvisionerCore
import Testing

/// Generates a key pair with ssh-keygen in `folder` and returns the public
/// key's line (`TYPE BASE64 COMMENT`).
func generateKey(_ type: String, comment: String, in folder: String) throws -> String {
    let path = "\(folder)/id_\(type)_\(UUID().uuidString.prefix(8))"
    let size = type == "rsa" ? ["-b", "2048"] : []
    try run("/usr/bin/ssh-keygen", ["-q", "-t", type] + size + ["-N", "", "-C", comment, "-f", path])
    return try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The error `body` throws as a ConfigError; records an issue for any other error.
func configError(_ body: () throws -> Void) -> ConfigError? {
    do {
        try body()
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        Issue.record("expected a ConfigError, got \(type(of: error)): \(error)")
        return nil
    }
}
