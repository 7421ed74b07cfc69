#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the board has, reported before any work: memory, block devices
/// and sizes, network interfaces and MACs, the serial number.
public struct Inventory: Sendable {
    public struct BlockDevice: Sendable { public var name: String; public var bytes: Int64; public var removable: Bool }
    public struct Interface: Sendable { public var name: String; public var mac: String }

    public var memoryBytes: Int64?
    public var blockDevices: [BlockDevice]
    public var interfaces: [Interface]
    public var serialNumber: String?

    /// Reads /proc and /sys under `root` ("/" on the board; a fake tree in tests).
    public init(root: String = "/") {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        memoryBytes = readText(base + "/proc/meminfo").flatMap { text in
            text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
                .flatMap { line in line.split(separator: " ").dropFirst().first.flatMap { Int64($0) } }
                .map { $0 * 1024 }
        }
        blockDevices = listDirectory(base + "/sys/block")
            .filter { !$0.hasPrefix("loop") && !$0.hasPrefix("ram") && !$0.hasPrefix("zram") }
            .compactMap { name in
                guard let sectors = readText(base + "/sys/block/\(name)/size").flatMap({ Int64($0.trimmed) }) else { return nil }
                let removable = readText(base + "/sys/block/\(name)/removable")?.trimmed == "1"
                return BlockDevice(name: name, bytes: sectors * 512, removable: removable)
            }
        interfaces = listDirectory(base + "/sys/class/net").filter { $0 != "lo" }.compactMap { name in
            guard let mac = readText(base + "/sys/class/net/\(name)/address")?.trimmed, !mac.isEmpty else { return nil }
            return Interface(name: name, mac: mac)
        }
        let serial = readText(base + "/proc/device-tree/serial-number") ?? readText(base + "/sys/class/dmi/id/product_serial")
        serialNumber = serial.map { String($0.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }).trimmed }
            .flatMap { $0.isEmpty ? nil : $0 }
    }

    public var json: JSON {
        .object([
            ("type", .string("inventory")),
            ("memory_bytes", memoryBytes.map { .number(Double($0)) } ?? .null),
            ("block_devices", .array(blockDevices.map {
                .object([("name", .string($0.name)), ("bytes", .number(Double($0.bytes))), ("removable", .bool($0.removable))])
            })),
            ("interfaces", .array(interfaces.map { .object([("name", .string($0.name)), ("mac", .string($0.mac))]) })),
            ("serial", serialNumber.map { .string($0) } ?? .null),
        ])
    }

    public var summary: String {
        let memory = memoryBytes.map { "\($0 >> 20) MiB RAM" } ?? "RAM unknown"
        let disks = blockDevices.map { "\($0.name) \(formatBytes($0.bytes))" }.joined(separator: ", ")
        let nics = interfaces.map { "\($0.name) \($0.mac)" }.joined(separator: ", ")
        return "\(memory); disks: \(disks.isEmpty ? "none" : disks); network: \(nics.isEmpty ? "none" : nics)"
            + (serialNumber.map { "; serial \($0)" } ?? "")
    }
}

/// A small text file's contents (sysfs, procfs), or nil.
public func readText(_ path: String, limit: Int = 1 << 20) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < limit {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes.append(contentsOf: buffer[..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The names in a directory, sorted, without . and ..
func listDirectory(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

/// 1.5 GiB, 300 MiB, 12 KiB.
func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : "\(formatDecimal(value, places: 1)) \(units[unit])"
}

/// A number with `places` decimals, without Foundation's formatters.
func formatDecimal(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    var fraction = String(scaled % Int64(scale))
    while fraction.count < places { fraction = "0" + fraction }
    return (value < 0 && scaled != 0 ? "-" : "") + String(whole) + (places > 0 ? "." + fraction : "")
}
