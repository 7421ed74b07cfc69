import Foundation

/// labgrid and pdudaemon from PyPI, in the venv scripts/setup makes
/// (.cache/tools-venv), and the Python side of their tests (Tests/Peers).
public enum PeerTools {
    public static let venv = Tools.packageRoot + "/.cache/tools-venv"
    public static let python = venv + "/bin/python"
    /// pdudaemon 1.1.1's client: its source archive has it, its wheel not.
    public static let pduclient = venv + "/bin/pduclient"
    public static let pdudaemon = venv + "/bin/pdudaemon"

    public static var hasLabgrid: Bool { hasModule("labgrid") }
    public static var hasPDUDaemon: Bool {
        hasModule("pdudaemon") && FileManager.default.isExecutableFile(atPath: pduclient)
            && FileManager.default.isExecutableFile(atPath: pdudaemon)
    }

    /// A file of Tests/Peers.
    public static func script(_ name: String) -> String { Tools.packageRoot + "/Tests/Peers/" + name }

    private static func hasModule(_ name: String) -> Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let lib = venv + "/lib"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).filter { $0.hasPrefix("python") }
        return versions.contains { FileManager.default.fileExists(atPath: "\(lib)/\($0)/site-packages/\(name)") }
    }
}
