import Foundation
import ProvisionerTesting
import Testing

/// The files in systemd/ as systemd's own tools read them, each in a root
/// folder the test makes (`--root`), so nothing of this machine changes:
/// the units pass `systemd-analyze verify`, their `security` exposure is
/// the README's, sysusers makes every group the agent needs wherever it
/// runs, and the units' tmpfiles step gives root's keys to the service user.
@Suite(.enabled(if: Tools.isInstalled("systemd-analyze") && Tools.isInstalled("unshare"),
                "needs systemd-analyze (systemd) and unshare (util-linux)"))
struct SystemdUnitTests {
    static let units = ["provisioner-agent.service", "provisioner-coordinator.service"]

    @Test func eachUnitPassesSystemdAnalyzeVerify() async throws {
        let root = try UnitRoot()
        for unit in Self.units {
            let verified = try await root.analyze(["verify", "--man=no", "/etc/systemd/system/" + unit])
            #expect(verified.exitCode == 0 && verified.output.isEmpty, "\(verified)")
        }
        // The check bites: a misspelt key is reported (and exits 0: hence the empty output above).
        let unit = try String(contentsOfFile: root.folder.path("etc/systemd/system/provisioner-agent.service"), encoding: .utf8)
        try root.folder.createFile("etc/systemd/system/misspelt.service",
                                   text: unit.replacingOccurrences(of: "NoNewPrivileges=", with: "NoNewPrivilege="))
        let misspelt = try await root.analyze(["verify", "--man=no", "/etc/systemd/system/misspelt.service"])
        #expect(misspelt.output.contains("Unknown key 'NoNewPrivilege'"), "\(misspelt)")
    }

    /// The README's table says each unit's overall exposure as this
    /// machine's systemd (the version the README names) computes it.
    @Test func theReadmeSaysEachUnitsExposure() async throws {
        let root = try UnitRoot()
        let readme = try String(contentsOfFile: Tools.packageRoot + "/README.md", encoding: .utf8)
        let version = try await RunningProcess.run("systemd-analyze", ["--version"])
        let sameSystemd = version.stdout.split(separator: " ").dropFirst().first.map { readme.contains("(systemd \($0),") } ?? false
        for unit in Self.units {
            let security = try await root.analyze(["security", "--offline=yes", "/etc/systemd/system/" + unit])
            #expect(security.exitCode == 0, "\(security)")
            let line = security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level for \(unit):") }
            let level = line.flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.map(String.init)
            let exposure = try #require(level.flatMap(Double.init), "\(security)")
            #expect(exposure < 4, "\(unit): \(security.stdout)")
            if sameSystemd {
                #expect(readme.contains("| `\(unit)` | \(level!) "), "README.md: \(unit)'s exposure is \(level!) now")
            }
        }
    }

    /// Plain Debian 12 has no `gpio` group, Raspberry Pi OS has one (and
    /// the pi user in it), a container may lack `kvm`: on each, sysusers
    /// makes what is missing, keeps what is there, and puts the service
    /// user in all three, which the unit then gets from /etc/group (naming
    /// them in SupplementaryGroups= would fail the unit where one is missing).
    @Test(.enabled(if: Tools.isInstalled("systemd-sysusers")), arguments: [
        ("debian", "root:x:0:\ndialout:x:20:\nkvm:x:104:\n"),
        ("raspberry-pi-os", "root:x:0:\ndialout:x:20:pi\ngpio:x:997:pi\npi:x:1000:\n"),
        ("container", "root:x:0:\ndialout:x:20:\n"),
    ])
    func sysusersGivesTheAgentItsGroupsOnEverySystem(system: String, groups: String) async throws {
        let root = try TemporaryDirectory(prefix: "sysusers-\(system)")
        try root.createFile("etc/passwd", text: "root:x:0:0:root:/root:/bin/bash\n"
                                                + (groups.contains("pi:x:1000") ? "pi:x:1000:1000::/home/pi:/bin/bash\n" : ""))
        try root.createFile("etc/group", text: groups)
        let made = try await RunningProcess.run("systemd-sysusers", ["--root=" + root.path, Tools.packageRoot + "/systemd/provisioner.sysusers.conf"])
        #expect(made.exitCode == 0, "\(made)")
        let passwd = try Self.entries(root.path("etc/passwd"))
        #expect(passwd["provisioner"]?[4] == "/var/lib/provisioner", "\(passwd)")
        let group = try Self.entries(root.path("etc/group"))
        for name in ["dialout", "gpio", "kvm"] {
            let members = group[name].map { $0[2].split(separator: ",").map(String.init) } ?? []
            #expect(members.contains("provisioner"), "\(system): \(name): \(group[name] ?? [])")
        }
        // What was there stays: its number and its members.
        for (name, before) in try Self.entries(groupText: groups) {
            #expect(group[name]?[1] == before[1], "\(system): \(name) was \(before), is \(group[name] ?? [])")
            let members = Set(group[name].map { $0[2].split(separator: ",").map(String.init) } ?? [])
            #expect(members.isSuperset(of: before[2].split(separator: ",").map(String.init)), "\(system): \(name)")
        }
        let agent = try String(contentsOfFile: Tools.packageRoot + "/systemd/provisioner-agent.service", encoding: .utf8)
        #expect(!agent.split(separator: "\n").contains { $0.hasPrefix("SupplementaryGroups=") })
    }

    /// `provisioner-coordinator client-key` or `ssh-keygen` run by the admin
    /// as root leave a key only root reads: each unit's first step (its
    /// ExecStartPre=+ running systemd-tmpfiles, taken from the unit as it
    /// is) gives it, and everything root left in its data folder, to the
    /// service user, mode kept, links not followed; nothing else changes.
    @Test(.enabled(if: Tools.isInstalled("systemd-sysusers") && Tools.isInstalled("systemd-tmpfiles") && getuid() == 0,
                   "needs systemd-sysusers, systemd-tmpfiles and root (to own files as another user)"))
    func eachUnitGivesRootsKeysToTheServiceUser() async throws {
        let root = try TemporaryDirectory(prefix: "tmpfiles-root")
        try root.createFile("etc/passwd", text: "root:x:0:0:root:/root:/bin/bash\n")
        try root.createFile("etc/group", text: "root:x:0:\ndialout:x:20:\n")
        let made = try await RunningProcess.run("systemd-sysusers", ["--root=" + root.path, Tools.packageRoot + "/systemd/provisioner.sysusers.conf"])
        #expect(made.exitCode == 0, "\(made)")
        let user = try #require(try Self.entries(root.path("etc/passwd"))["provisioner"])
        let (uid, gid) = (try #require(uid_t(user[1])), try #require(gid_t(user[2])))
        // As the package installs it; the units name it by its file name.
        try FileManager.default.createDirectory(atPath: root.path("usr/lib/tmpfiles.d"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Tools.packageRoot + "/systemd/provisioner.tmpfiles.conf",
                                         toPath: root.path("usr/lib/tmpfiles.d/provisioner.conf"))
        // What root made: keys (0600), a config, a data folder's files, and
        // a link out of it that must not be followed.
        let rootsFiles = ["etc/provisioner/coordinator_client_key", "etc/provisioner/agent_host_key",
                          "var/lib/provisioner-coordinator/ssh_client_ed25519_key",
                          "var/lib/provisioner/ssh_host_ed25519_key", "var/lib/provisioner/shared/flasher-arm64/Image"]
        for file in rootsFiles + ["etc/provisioner/coordinator.yaml", "etc/secret"] {
            try root.createFile(file, text: "made by root\n")
            chmod(root.path(file), file.hasSuffix("key") || file == "etc/secret" ? 0o600 : 0o644)
        }
        try root.createSymbolicLink("var/lib/provisioner/escape", to: root.path("etc/secret"))

        let service = { (mode: String) in "\(uid):\(gid) \(mode)" }
        for (unit, dataFolder) in [("provisioner-coordinator.service", "var/lib/provisioner-coordinator"),
                                   ("provisioner-agent.service", "var/lib/provisioner")] {
            let text = try String(contentsOfFile: Tools.packageRoot + "/systemd/" + unit, encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStartPre=") && $0.contains("systemd-tmpfiles") },
                                    "\(unit) runs no systemd-tmpfiles")
            // "-+": as root, failure ignored; then the program and its words.
            let words = line.dropFirst("ExecStartPre=".count).drop { "-+@:!".contains($0) }.split(separator: " ").map(String.init)
            let ran = try await RunningProcess.run(words[0], ["--root=" + root.path] + words.dropFirst())
            #expect(ran.exitCode == 0 && ran.output.isEmpty, "\(unit): \(ran)")
            #expect(Self.owner(root.path(dataFolder)) == service("750"), "\(unit): \(dataFolder)")
            if unit == "provisioner-coordinator.service" {
                // Each unit's step keeps to its own data folder.
                #expect(Self.owner(root.path("var/lib/provisioner/ssh_host_ed25519_key")) == "0:0 600")
            }
        }
        for file in rootsFiles {
            #expect(Self.owner(root.path(file)) == service(file.hasSuffix("key") ? "600" : "644"), "\(file)")
        }
        #expect(Self.owner(root.path("etc/provisioner/coordinator.yaml")) == "0:0 644")
        #expect(Self.owner(root.path("etc/provisioner")) == "0:0 755")
        #expect(Self.owner(root.path("etc/secret")) == "0:0 600")
    }

    /// "UID:GID MODE" of `path` (not following a link), e.g. "0:0 644".
    private static func owner(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return "\(info.st_uid):\(info.st_gid) \(String(info.st_mode & 0o7777, radix: 8))"
    }

    /// The lines of a passwd or group file by their first field.
    private static func entries(_ path: String) throws -> [String: [String]] {
        try entries(groupText: String(contentsOfFile: path, encoding: .utf8))
    }

    private static func entries(groupText text: String) throws -> [String: [String]] {
        var entries: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            entries[fields[0]] = Array(fields.dropFirst())
        }
        return entries
    }
}

/// A root folder holding what the units refer to: systemd's own units
/// (copied from this machine, for sysinit.target and the like), the two
/// binaries (empty scripts: `verify` checks only that they are executable)
/// and the units in /etc/systemd/system, as an admin installs them.
private struct UnitRoot {
    let folder: TemporaryDirectory

    init() throws {
        folder = try TemporaryDirectory(prefix: "systemd-root")
        let systemUnits = ["/usr/lib/systemd/system", "/lib/systemd/system"].first { FileManager.default.fileExists(atPath: $0) }
        guard let systemUnits else { throw TestSetupError("no /usr/lib/systemd/system on this machine") }
        try FileManager.default.createDirectory(atPath: folder.path("usr/lib/systemd"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: systemUnits, toPath: folder.path("usr/lib/systemd/system"))
        for binary in ["provisioner-agent", "provisioner-coordinator"] {
            try folder.createFile("usr/local/bin/" + binary, text: "#!/bin/sh\n")
            chmod(folder.path("usr/local/bin/" + binary), 0o755)
        }
        for unit in SystemdUnitTests.units {
            try folder.createFile("etc/systemd/system/" + unit,
                                  contents: try Data(contentsOf: URL(fileURLWithPath: Tools.packageRoot + "/systemd/" + unit)))
        }
    }

    /// `systemd-analyze ARGUMENTS --root=FOLDER`, in a mount namespace of
    /// its own with a fresh /run: run as root, systemd-analyze touches
    /// /run/systemd/systemd-units-load even with --root.
    func analyze(_ arguments: [String]) async throws -> ProcessResult {
        try await RunningProcess.run("unshare", ["-rm", "--", "sh", "-c",
                                                 #"mount -t tmpfs provisioner-test /run && exec systemd-analyze "$@""#, "sh",
                                                 "--root=" + folder.path] + arguments)
    }
}
