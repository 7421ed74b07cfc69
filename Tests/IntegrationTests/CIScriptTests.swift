import Foundation
import ProvisionerTesting
import Testing

/// examples/ci/board-test.sh as a CI job runs it, against the virtual lab:
/// reserve by tag (waiting), upload, netboot into the test initramfs's
/// shell, `run` the test, save the console log, release on every exit path.
@Suite(.serialized, .enabled(if: VirtualLab.isAvailable, "needs root, QEMU, u-boot-qemu and scripts/board-assets"))
struct CIScriptTests {
    static let script = Tools.packageRoot + "/examples/ci/board-test.sh"

    func runScript(_ lab: VirtualLab, test: String) async throws -> ProcessResult {
        let ssh = ["ssh", "-F", "/dev/null", "-p", "2223", "-i", lab.folder.path("user"), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                   "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"].joined(separator: " ")
        let environment = ["PATH": "/usr/bin:/bin", "LAB": "127.0.0.1", "SSH": ssh, "TAG": "ci", "HOLD": "20m", "WAIT": "5m",
                           "KERNEL": VirtualLab.assets + "/arm64/Image", "INITRD": VirtualLab.assets + "/arm64/initrd",
                           "ARGS": "provisioner.shell quiet", "BOOTED": "cmdline:", "TEST": test, "LOG": lab.folder.path("board.log")]
        return try await RunningProcess.run("nsenter", ["-t", "\(lab.network.pid)", "-n", "--", "sh", Self.script],
                                            timeout: .seconds(300), environment: environment)
    }

    func holder(_ lab: VirtualLab) async throws -> Any? {
        let boards = try await lab.ssh("boards", "--tag", "ci", "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(boards.stdout.utf8)) as? [[String: Any]]
        return rows?.first?["holder"] as Any?
    }

    @Test func theJobBootsRunsKeepsTheLogAndReleases() async throws {
        let lab = try await VirtualLab()
        let result = try await runScript(lab, test: "uname -sm")
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout == "Linux aarch64\n", "the test's output is the job's: \(result)")
        #expect(result.stderr.contains("board-test: got arm1"), "\(result.stderr)")
        let log = try String(contentsOfFile: lab.folder.path("board.log"), encoding: .utf8)
        #expect(log.contains("PROVISIONER-MARKER") && log.contains("Starting kernel"), "\(log.suffix(1000))")
        #expect(try await holder(lab) is NSNull, "released")
        _ = try await lab.ssh("power", "arm1", "off")
    }

    @Test func aFailingTestIsTheJobsStatusAndTheBoardIsReleased() async throws {
        let lab = try await VirtualLab()
        let result = try await runScript(lab, test: "echo checking; exit 3")
        #expect(result.exitCode == 3, "\(result)")
        #expect(result.stdout == "checking\n", "\(result)")
        #expect(result.stderr.contains("released arm1"), "\(result.stderr)")
        #expect(try await holder(lab) is NSNull, "released after the failure")
        _ = try await lab.ssh("power", "arm1", "off")
    }
}
