import Foundation
import SSH
import Testing
import ProvisionerTesting

/// The refusal of `line`, as its description, or nil when it parses.
private func keyError(_ line: String) -> String? {
    do {
        _ = try SSHPublicKey(line: line)
        return nil
    } catch {
        return error.description
    }
}

@Suite("SSHPublicKey (libssh)")
struct SSHPublicKeyTests {
    @Test(arguments: [("ed25519", "ssh-ed25519"), ("ecdsa", "ecdsa-sha2-nistp256"), ("rsa", "ssh-rsa")])
    func parsesAGeneratedKeyWithTheFingerprintOfSSHKeygen(_ type: String, _ name: String) throws {
        try withTemporaryDirectory { folder in
            let generated = try generateKey(type, comment: "alice@laptop", in: folder)
            let key = try SSHPublicKey(line: generated.line)
            #expect(key.type == name)
            #expect(key.comment == "alice@laptop")
            #expect(generated.line == "\(name) \(key.base64) alice@laptop")
            // ssh-keygen -lf prints "BITS SHA256:… COMMENT (TYPE)".
            let listed = try run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", generated.path])
            let fingerprint = listed.split(separator: " ")[1]
            #expect(fingerprint.hasPrefix("SHA256:"))
            #expect(key.fingerprint == String(fingerprint))
        }
    }

    @Test func commentMayHaveSpacesAndIsTrimmed() throws {
        try withTemporaryDirectory { folder in
            let line = String(try generateKey("ed25519", comment: "x", in: folder).line.dropLast(2))  // without " x"
            #expect(try SSHPublicKey(line: line + "  Alice Smith's laptop \t").comment == "Alice Smith's laptop")
            #expect(try SSHPublicKey(line: line).comment == "")
        }
    }

    @Test func matchesTheSameKeyWhateverItsComment() throws {
        try withTemporaryDirectory { folder in
            let first = try generateKey("ed25519", comment: "one", in: folder).line
            let other = try generateKey("ed25519", comment: "one", in: folder).line
            let key = try SSHPublicKey(line: first)
            let renamed = try SSHPublicKey(line: first.replacingOccurrences(of: " one", with: " someone@else"))
            #expect(key.matches(renamed))
            #expect(renamed.matches(key))
            #expect(!key.matches(try SSHPublicKey(line: other)))
            #expect(key.fingerprint != (try SSHPublicKey(line: other)).fingerprint)
        }
    }

    @Test func differentTypesDoNotMatch() throws {
        try withTemporaryDirectory { folder in
            let ed25519 = try SSHPublicKey(line: generateKey("ed25519", comment: "a", in: folder).line)
            let ecdsa = try SSHPublicKey(line: generateKey("ecdsa", comment: "a", in: folder).line)
            #expect(!ed25519.matches(ecdsa))
        }
    }

    @Test func unknownTypeIsRefused() {
        #expect(keyError("ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIB alice") == "unknown key type 'ssh-foo'")
    }

    @Test(arguments: ["AAAA!!!!not-base64", "AAAAC3NzaC1lZDI1NTE5", "Zm9v"])
    func badKeyDataIsRefused(_ data: String) {
        #expect(keyError("ssh-ed25519 \(data) alice") == "the ssh-ed25519 key data is not valid")
    }

    @Test func keyDataOfAnotherTypeIsRefused() throws {
        try withTemporaryDirectory { folder in
            let ed25519 = try generateKey("ed25519", comment: "a", in: folder).line
            let body = ed25519.split(separator: " ")[1]
            #expect(keyError("ssh-rsa \(body) a") == "the ssh-rsa key data is not valid")
        }
    }

    @Test(arguments: ["", "ssh-ed25519", "   "])
    func incompleteLinesAreRefused(_ line: String) {
        #expect(keyError(line) == "expected 'TYPE BASE64 [COMMENT]'")
    }
}
