#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Which ciphers the lab's own hop (the coordinator to its agents) uses.
/// Every byte of `upload`, `scp` and a console passes that hop, encrypted
/// once more than on a direct login. On a CPU with AES instructions
/// (x86's AES-NI, Arm's AES extension) AES-GCM costs about a fifth less CPU
/// than ChaCha20-Poly1305 (measured with bench/coordinator); without them
/// (a Raspberry Pi 4) ChaCha20 is the faster one.
public enum SSHCiphers {
    /// Whether this machine's CPU has AES instructions.
    public static let hardwareAES: Bool = detectHardwareAES()

    /// What the coordinator offers an agent, most wanted first; nil:
    /// libssh's defaults (ChaCha20 first).
    public static var agentLink: String? { hardwareAES ? aesFirst : nil }

    /// What a server without AES instructions offers: no AES-GCM, so a
    /// client that prefers it (a coordinator on AES hardware) settles on
    /// ChaCha20 instead of slow AES in software. nil: libssh's defaults.
    /// OpenSSH's clients put ChaCha20 first anyway.
    public static var server: String? { hardwareAES ? nil : withoutGCM }

    /// The two lists (libssh must take both: a test sets each).
    public static let aesFirst = "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"
    public static let withoutGCM = "chacha20-poly1305@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"

    private static func detectHardwareAES() -> Bool {
        #if arch(x86_64)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        return flags.split(separator: " ").contains("aes")
        #elseif arch(arm64)
        let hwcapAES: UInt = 1 << 3  // HWCAP_AES in <asm/hwcap.h>
        return getauxval(UInt(AT_HWCAP)) & hwcapAES != 0
        #else
        return false
        #endif
    }
}
