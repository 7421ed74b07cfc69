import ProvisionerTesting
import Testing

/// The real TFTP clients of TESTING.md, each run as its own program.
enum TFTPClient: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case tftpHPA = "tftp-hpa"
    case atftp
    case curl
    case busybox

    var program: String {
        switch self {
        case .tftpHPA: "tftp"
        case .atftp: "atftp"
        case .curl: "curl"
        case .busybox: "busybox"
        }
    }

    var isInstalled: Bool { Tools.isInstalled(program) }

    /// Why a test needs it, for `.enabled(if:)`.
    var missingComment: Comment { "\(program) is not installed (\(package)); .ci/run installs it" }

    private var package: String {
        switch self {
        case .tftpHPA: "apt-get install tftp-hpa"
        case .atftp: "apt-get install atftp"
        case .curl: "apt-get install curl"
        case .busybox: "apt-get install busybox"
        }
    }

    var testDescription: String { rawValue }

    /// How the client asks: `.tuned` is how each client is told to go fast in
    /// these tests (blksize 1468; atftp also windowsize 16 and tsize);
    /// `.plain` asks for no option at all (RFC 1350, 512-byte blocks).
    enum Tuning: Sendable { case plain, tuned }

    /// The block size the server should settle on.
    func blockSize(_ tuning: Tuning) -> Int {
        tuning == .plain || self == .tftpHPA ? 512 : 1468
    }

    func windowSize(_ tuning: Tuning) -> Int {
        tuning == .tuned && self == .atftp ? 16 : 1
    }

    func arguments(fetching remote: String, to local: String, port: UInt16, tuning: Tuning,
                   mode: String = "octet") -> [String] {
        let port = String(port)
        switch self {
        case .tftpHPA:
            // tftp-hpa 5.2 has no option for blksize: always RFC 1350 blocks.
            return ["-m", mode == "octet" ? "binary" : mode, "127.0.0.1", port, "-c", "get", remote, local]
        case .atftp:
            let options = tuning == .tuned
                ? ["--option", "blksize 1468", "--option", "windowsize 16", "--option", "tsize 0"] : []
            // --mode is missing from atftp's --help but works (it defaults to octet).
            let modeOption = mode == "octet" ? [] : ["--mode", mode]
            return ["-g", "-r", remote, "-l", local] + modeOption + options + ["127.0.0.1", port]
        case .curl:
            let options = tuning == .tuned ? ["--tftp-blksize", "1468"] : []
            // --path-as-is: send `..` and `//` as written, for the refusal tests.
            return ["-sS", "--path-as-is", "-o", local] + options + ["tftp://127.0.0.1:\(port)/\(remote)"]
        case .busybox:
            let options = tuning == .tuned ? ["-b", "1468"] : []
            return ["tftp"] + options + ["-g", "-r", remote, "-l", local, "127.0.0.1", port]
        }
    }

    /// Runs the client to fetch `remote` from 127.0.0.1:`port` into `local`.
    func fetch(_ remote: String, to local: String, port: UInt16, tuning: Tuning = .tuned, mode: String = "octet",
               timeout: Duration = .seconds(60)) async throws -> ProcessResult {
        try await RunningProcess.run(program, arguments(fetching: remote, to: local, port: port, tuning: tuning, mode: mode),
                                     timeout: timeout)
    }

    /// Whether the client reports success. tftp-hpa exits 0 even when the
    /// server refused, and says so on stdout: look at what it printed too.
    func succeeded(_ result: ProcessResult) -> Bool {
        guard result.exitCode == 0, !result.timedOut else { return false }
        switch self {
        case .tftpHPA: return !result.output.contains("Error code") && !result.output.contains("Transfer timed out")
        case .atftp: return !result.output.contains("error received from server") && !result.output.contains("aborting")
        case .curl, .busybox: return true
        }
    }

    /// Whether the client reports the server's ERROR packet with this code
    /// (and, where the client shows it, the server's message).
    func reportsRefusal(_ result: ProcessResult, code: UInt16, message: String) -> Bool {
        switch self {
        case .tftpHPA:
            // Exits 0 even then; says "Error code N: MESSAGE" on stdout. In
            // full parallel runs it sometimes printed that and then hung until
            // killed, having sent the server an ACK after the error (logged as
            // stray); never when run alone. A stray packet from another test
            // reaching its reused port is the likely cause. What the user
            // sees is the refusal either way, so a hang after it is not held
            // against the server.
            return result.output.contains("Error code \(code): ") && result.output.contains(message)
        case .atftp:
            guard !result.timedOut else { return false }
            // Does not show the code.
            return result.exitCode != 0 && result.output.contains("error received from server <")
                && result.output.contains(message)
        case .curl:
            // Maps the code to its exit status (68 not found, 69 access violation,
            // 71 illegal operation); its message is its own bug (TESTING.md).
            let expected: [UInt16: Int32] = [1: 68, 2: 69, 4: 71]
            return !result.timedOut && result.exitCode == expected[code]
        case .busybox:
            return !result.timedOut && result.exitCode != 0 && result.output.contains("server error: (\(code)) ")
                && result.output.contains(message)
        }
    }
}
