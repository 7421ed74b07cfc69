import Foundation
import ProvisionerTesting

/// Generates a key pair with ssh-keygen in `folder`; returns the public key
/// file's path and its line (`TYPE BASE64 COMMENT`).
func generateKey(_ type: String, comment: String, in folder: String) throws -> (path: String, line: String) {
    let path = "\(folder)/id_\(type)_\(UUID().uuidString.prefix(8))"
    let size = type == "rsa" ? ["-b", "2048"] : []
    try run("/usr/bin/ssh-keygen", ["-q", "-t", type] + size + ["-N", "", "-C", comment, "-f", path])
    let line = try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    return (path + ".pub", line)
}
