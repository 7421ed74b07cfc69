#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the board's network comes up, from the kernel's `ip=` argument
/// (Documentation/admin-guide/nfs/nfsroot.rst):
/// `ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF:DNS0:DNS1:NTP`,
/// or `ip=dhcp` (also `on`, `any`, `bootp`), or `ip=off`/`none`.
public enum NetworkSetup: Equatable, Sendable {
    case none
    /// DHCP on `device`, or on the first interface that has a link.
    case dhcp(device: String?)
    case manual(StaticAddress)

    public struct StaticAddress: Equatable, Sendable {
        public var address: String
        public var prefixLength: Int
        public var gateway: String?
        public var device: String?
        public var hostname: String?

        public init(address: String, prefixLength: Int, gateway: String? = nil, device: String? = nil, hostname: String? = nil) {
            self.address = address
            self.prefixLength = prefixLength
            self.gateway = gateway
            self.device = device
            self.hostname = hostname
        }
    }

    public init(parsing text: String) throws(FlasherError) {
        func refuse(_ why: String) -> FlasherError { FlasherError(.configuration, "ip=\(text.prefix(200)): \(why)") }
        switch text {
        case "off", "none": self = .none; return
        case "dhcp", "on", "any", "bootp", "both", "dhcp6": self = .dhcp(device: nil); return
        default: break
        }
        let fields = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count <= 10 else { throw refuse("more than 10 fields") }
        func field(_ index: Int) -> String? {
            index < fields.count && !fields[index].isEmpty ? fields[index] : nil
        }
        let device = try field(5).map { (name: String) throws(FlasherError) -> String in
            guard name.utf8.count < 16, name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                throw refuse("'\(name)' is not an interface name")
            }
            return name
        }
        let autoconf = field(6) ?? "off"
        guard let client = field(0) else {
            guard ["dhcp", "on", "any", "bootp", "both", "off", "none"].contains(autoconf) else {
                throw refuse("unknown autoconf '\(autoconf)' (off, none, dhcp, on, any)")
            }
            if ["off", "none"].contains(autoconf) && fields.count > 1 {
                throw refuse("no client address and autoconf off: nothing to configure")
            }
            self = .dhcp(device: device)
            return
        }
        guard Self.isIPv4(client) else { throw refuse("'\(client)' is not an IPv4 address") }
        if let server = field(1), !Self.isIPv4(server) { throw refuse("'\(server)' is not an IPv4 address") }
        let gateway = field(2)
        if let gateway, !Self.isIPv4(gateway) { throw refuse("the gateway '\(gateway)' is not an IPv4 address") }
        var prefixLength = 24
        if let netmask = field(3) {
            guard let length = Self.prefixLength(ofNetmask: netmask) else {
                throw refuse("the netmask '\(netmask)' is not a contiguous IPv4 netmask")
            }
            prefixLength = length
        }
        let hostname = field(4)
        if let hostname, hostname.utf8.count > 64 || !hostname.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) {
            throw refuse("'\(hostname)' is not a host name")
        }
        self = .manual(StaticAddress(address: client, prefixLength: prefixLength, gateway: gateway,
                                     device: device, hostname: hostname))
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    /// 255.255.255.0 → 24; nil for a non-contiguous or malformed mask.
    static func prefixLength(ofNetmask text: String) -> Int? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        let mask = UInt32(bigEndian: address.s_addr)
        let length = mask.leadingNonzeroBitCount
        guard mask == (length == 0 ? 0 : UInt32.max << (32 - length)) else { return nil }
        return length
    }
}

private extension UInt32 {
    var leadingNonzeroBitCount: Int { (~self).leadingZeroBitCount }
}
