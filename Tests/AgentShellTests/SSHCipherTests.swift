import CSSH
import Foundation
import ProvisionerTesting
import SSH
import SystemSupport
import Testing

/// The coordinator's hop to an agent is encrypted once more than a direct
/// login; where the CPU has AES instructions it uses AES-GCM, which costs
/// less there than ChaCha20 (bench/coordinator).
@Suite(.enabled(if: Tools.isInstalled("ssh-keygen")))
struct SSHCipherTests {
    @Test func theCoordinatorsHopUsesAESGCMOnAESHardwareAndChaChaElsewhere() throws {
        let fixture = try AgentSSHFixture()
        let pin = try SSHHostKeyPin(fixture.server.hostKeyFingerprint)
        let options = SSHClientOptions(host: "127.0.0.1", port: fixture.port, user: "provisioner",
                                       identity: try SSHPrivateKey(path: fixture.keys.coordinator), hostKey: pin,
                                       ciphers: SSHCiphers.agentLink)
        let session = try SSHClientSession(options, command: "--as alice boards")
        try startThread(named: "cipher-test") { session.run() }
        let result = session.collect(timeout: 10)
        #expect(result.status == 0, "\(String(decoding: result.stderr, as: UTF8.self))")
        let flags = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let aes = flags.split(separator: "\n").first { $0.hasPrefix("flags") || $0.hasPrefix("Features") }?
            .split(separator: " ").contains("aes") ?? false
        #expect(SSHCiphers.hardwareAES == aes, "what /proc/cpuinfo says")
        #expect(session.cipher == (aes ? "aes128-gcm@openssh.com" : "chacha20-poly1305@openssh.com"))
    }

    /// Both lists are libssh's to take, on the side each is set on: a typo
    /// would stop every agent without AES instructions from listening.
    @Test func libsshTakesBothCipherLists() {
        let bind = ssh_bind_new()
        defer { ssh_bind_free(bind) }
        #expect(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_C_S, SSHCiphers.withoutGCM) == SSH_OK)
        #expect(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_S_C, SSHCiphers.withoutGCM) == SSH_OK)
        let session = ssh_new()
        defer { ssh_free(session) }
        #expect(ssh_options_set(session, SSH_OPTIONS_CIPHERS_C_S, SSHCiphers.aesFirst) == SSH_OK)
        #expect(ssh_options_set(session, SSH_OPTIONS_CIPHERS_S_C, SSHCiphers.aesFirst) == SSH_OK)
        #expect(ssh_options_set(session, SSH_OPTIONS_CIPHERS_C_S, "no-such-cipher") != SSH_OK, "libssh does refuse a bad list")
    }
}
