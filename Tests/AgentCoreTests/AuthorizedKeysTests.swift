import AgentCore
import Foundation
import ProvisionerCore
import Testing
import ProvisionerTesting

/// The error `AuthorizedKeys(file:)` throws for `path`, or nil when it reads.
private func keysError(_ path: String) -> ConfigError? {
    do {
        _ = try AuthorizedKeys(file: path)
        return nil
    } catch {
        return error
    }
}

@Suite("AuthorizedKeys(file:)")
struct AuthorizedKeysTests {
    @Test func readsEd25519ECDSAAndRSAKeysSkippingCommentsAndBlankLines() throws {
        try withTemporaryDirectory { folder in
            let ed25519 = try generateKey("ed25519", comment: "alice@laptop", in: folder)
            let ecdsa = try generateKey("ecdsa", comment: "bob@desk", in: folder)
            let rsa = try generateKey("rsa", comment: "carol", in: folder)
            let path = folder + "/authorized_keys"
            let text = [
                "# people using bench-1 directly",  // 1
                "",  // 2
                ed25519,  // 3
                "   \t",  // 4
                "  " + ecdsa,  // 5: leading blanks are allowed
                "# rsa below",  // 6
                rsa,  // 7
                "",
            ].joined(separator: "\n")
            try text.write(toFile: path, atomically: true, encoding: .utf8)

            let keys = try AuthorizedKeys(file: path)
            #expect(keys.entries.map(\.line) == [3, 5, 7])
            #expect(keys.entries.map(\.key.type) == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
            #expect(keys.entries.map(\.key.comment) == ["alice@laptop", "bob@desk", "carol"])
            #expect(keys.entries[0].key.base64 == ed25519.split(separator: " ")[1].description)
        }
    }

    @Test func emptyFileHasNoKeys() throws {
        try withTemporaryDirectory { folder in
            try "# nobody yet\n\n".write(toFile: folder + "/keys", atomically: true, encoding: .utf8)
            #expect(try AuthorizedKeys(file: folder + "/keys").entries.isEmpty)
        }
    }

    @Test func garbageLineIsRefusedWithItsLineNumber() throws {
        try withTemporaryDirectory { folder in
            let key = try generateKey("ed25519", comment: "alice@laptop", in: folder)
            let path = folder + "/authorized_keys"
            try "# keys\n\(key)\n\nnot a key at all\n\(key)\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(keysError(path)?.description == "\(path):4: not an OpenSSH public key: unknown key type 'not'")
        }
    }

    @Test func corruptKeyDataIsRefusedWithItsLineNumber() throws {
        try withTemporaryDirectory { folder in
            let path = folder + "/authorized_keys"
            try "ssh-ed25519 AAAA!!!!not-base64 eve\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(keysError(path)?.description == "\(path):1: not an OpenSSH public key: the ssh-ed25519 key data is not valid")
        }
    }

    @Test func keyWithoutDataIsRefused() throws {
        try withTemporaryDirectory { folder in
            let path = folder + "/authorized_keys"
            try "\n\nssh-ed25519\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(keysError(path)?.description == "\(path):3: not an OpenSSH public key: expected 'TYPE BASE64 [COMMENT]'")
        }
    }

    @Test func missingFileIsLineZero() throws {
        try withTemporaryDirectory { folder in
            #expect(keysError(folder + "/none")?.description == "\(folder)/none:0: cannot read the keys file")
        }
    }

    @Test func checkKeyFilesReportsTheBadKeysFile() throws {
        try withTemporaryDirectory { folder in
            try "ssh-ed25519 AAAA\n".write(toFile: folder + "/coordinators", atomically: true, encoding: .utf8)
            let text = "agent:\n  name: a\n  data_dir: /d\n  ssh: { coordinator_keys: coordinators }\n"
            let config = try AgentConfig(text: text, file: folder + "/agent.yaml")
            let error = configError { try config.checkKeyFiles() }
            #expect(error?.file == folder + "/coordinators")
            #expect(error?.line == 1)
        }
    }

    /// A person's key acts as its comment's user, lossily: two people whose
    /// comments meet in one name are refused at start, naming both lines;
    /// one person's keys (the same part before '@') are not.
    @Test(arguments: [
        (["alice@laptop", "alice@desktop", "bob"], nil),
        (["Alice@x", "bob", "alice@y"], "the keys on lines 1 ('Alice@x') and 3 ('alice@y') both act as 'alice'"),
        (["ALICE", "alice"], "the keys on lines 1 ('ALICE') and 2 ('alice') both act as 'alice'"),
        (["Éve", "ve@host"], "the keys on lines 1 ('Éve') and 2 ('ve@host') both act as 've'"),
        (["bob smith", "bob.smith", "bob-smith"], "the keys on lines 1 ('bob smith') and 3 ('bob-smith') both act as 'bob-smith'"),
    ] as [([String], String?)])
    func twoPeopleMayNotShareOneName(_ comments: [String], _ refusal: String?) throws {
        try withTemporaryDirectory { folder in
            let lines = try comments.map { try generateKey("ed25519", comment: $0, in: folder) }
            try (lines.joined(separator: "\n") + "\n").write(toFile: folder + "/people", atomically: true, encoding: .utf8)
            let text = "agent:\n  name: a\n  data_dir: /d\n  ssh: { authorized_keys: people }\n"
            let error = configError { try AgentConfig(text: text, file: folder + "/agent.yaml").checkKeyFiles() }
            if let refusal {
                #expect(error?.file == folder + "/people", "\(error?.description ?? "accepted")")
                #expect(error?.message.hasPrefix(refusal) == true, "\(error?.description ?? "accepted")")
            } else {
                #expect(error == nil, "\(error?.description ?? "")")
            }
        }
    }
}
