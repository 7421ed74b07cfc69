import Foundation
import ProvisionerTesting
import Testing

/// The FIT image of `images/build-flasher --arch amd64`, read by U-Boot's own
/// tools (u-boot-tools): `dumpimage -l` lists the kernel, the x86 setup and
/// the ramdisk, each with a sha256, and the configuration that joins them;
/// `dumpimage -p` takes each part out again, and they are the bzImage (setup
/// sectors, then the rest) and the initrd that build-flasher wrote beside it.
@Suite(.enabled(if: VirtualLab.hasFlasherFIT && Tools.isInstalled("dumpimage") && Tools.isInstalled("fdtget"),
                "needs images/build-flasher --arch amd64, dumpimage (u-boot-tools) and fdtget (device-tree-compiler)"))
struct FlasherFITTests {
    static var folder: String { VirtualLab.flasherImages + "/flasher-amd64" }

    /// One image node as `dumpimage -l` prints it.
    struct Node: Equatable {
        var index: Int
        var name: String
        var type = ""
        var hashAlgorithm = ""
        var hashValue = ""
    }

    /// The image nodes and the configuration lines (spaces squeezed) of `dumpimage -l`.
    static func listing(_ text: String) -> (nodes: [Node], configuration: [String]) {
        var nodes: [Node] = []
        var configuration: [String] = []
        var inConfiguration = false
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let match = line.wholeMatch(of: /Image (\d+) \((.+)\)/) {
                nodes.append(Node(index: Int(match.1)!, name: String(match.2)))
                inConfiguration = false
            } else if line.hasPrefix("Default Configuration:") || line.hasPrefix("Configuration ") || inConfiguration {
                configuration.append(line.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " "))
                inConfiguration = true
            } else if let colon = line.firstIndex(of: ":"), !nodes.isEmpty {
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                switch line[..<colon] {
                case "Type": nodes[nodes.count - 1].type = value
                case "Hash algo": nodes[nodes.count - 1].hashAlgorithm = value
                case "Hash value": nodes[nodes.count - 1].hashValue = value
                default: break
                }
            }
        }
        return (nodes, configuration)
    }

    @Test func dumpimageListsKernelSetupAndRamdiskEachWithASha256AndTheConfiguration() async throws {
        let listed = try await RunningProcess.run("dumpimage", ["-l", Self.folder + "/flasher.itb"])
        try #require(listed.exitCode == 0, "\(listed)")
        let (nodes, configuration) = Self.listing(listed.stdout)
        #expect(nodes.map(\.name) == ["kernel-1", "setup-1", "ramdisk-1"], "\(listed.stdout)")
        #expect(nodes.map(\.type) == ["Kernel Image", "x86 setup.bin", "RAMDisk Image"], "\(listed.stdout)")
        for node in nodes {
            #expect(node.hashAlgorithm == "sha256", "\(node.name): \(listed.stdout)")
            #expect(node.hashValue.wholeMatch(of: /[0-9a-f]{64}/) != nil, "\(node.name): \(listed.stdout)")
        }
        #expect(configuration == ["Default Configuration: 'conf-1'", "Configuration 0 (conf-1)",
                                  "Description: the flasher", "Kernel: kernel-1", "Init Ramdisk: ramdisk-1"],
                "\(listed.stdout)")
        // dumpimage does not print a configuration's x86 setup; the tree has it.
        let setup = try await RunningProcess.run("fdtget", [Self.folder + "/flasher.itb", "/configurations/conf-1", "setup"])
        #expect(setup.exitCode == 0 && setup.stdout == "setup-1\n", "\(setup)")
    }

    @Test func itsPartsAreTheBzImageAndTheInitrdAndMatchTheirListedHashes() async throws {
        let folder = try TemporaryDirectory(prefix: "fit")
        let listed = try await RunningProcess.run("dumpimage", ["-l", Self.folder + "/flasher.itb"])
        try #require(listed.exitCode == 0, "\(listed)")
        let nodes = Self.listing(listed.stdout).nodes
        try #require(nodes.count == 3, "\(listed.stdout)")
        var parts: [String: Data] = [:]
        for node in nodes {
            let path = folder.path(node.name)
            let extracted = try await RunningProcess.run("dumpimage", ["-T", "flat_dt", "-p", "\(node.index)", "-o", path,
                                                                       Self.folder + "/flasher.itb"])
            try #require(extracted.exitCode == 0, "\(extracted)")
            let sum = try await RunningProcess.run("sha256sum", [path])
            #expect(sum.stdout.split(separator: " ").first.map(String.init) == node.hashValue, "\(node.name): \(sum)")
            parts[node.name] = try Data(contentsOf: URL(fileURLWithPath: path))
        }
        let bzImage = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/bzImage"))
        let initrd = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/initrd"))
        #expect(parts["setup-1"].map { $0 + (parts["kernel-1"] ?? Data()) } == bzImage,
                "setup-1 then kernel-1 is the bzImage")
        #expect(parts["setup-1"]?.count ?? 0 == (Int(bzImage[0x1f1]) + 1) * 512, "setup-1 is the setup sectors")
        #expect(parts["ramdisk-1"] == initrd, "ramdisk-1 is the initrd")
    }
}
