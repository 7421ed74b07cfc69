#if canImport(Glibc)
import Glibc
#endif
import SSH

/// Where a session's packets come from and go to.
public protocol SFTPChannel: AnyObject, Sendable {
    /// The client's next bytes; nil once its input ended.
    func receive() -> [UInt8]?
    /// The same, waiting for `minimum` bytes when it can (what the packet
    /// being read still needs), so a big packet wakes its reader once.
    func receive(atLeast minimum: Int) -> [UInt8]?
    /// Queues one whole reply packet; false once the client is gone.
    @discardableResult
    func send(_ packet: [UInt8]) -> Bool
}

extension SFTPChannel {
    public func receive(atLeast minimum: Int) -> [UInt8]? { receive() }
}

extension SSHChannelIO: SFTPChannel {
    public func receive() -> [UInt8]? { receive(atLeast: 1) }

    public func receive(atLeast minimum: Int) -> [UInt8]? {
        while true {
            switch read(timeout: nil, atLeast: minimum) {
            case .bytes(let bytes): return bytes
            case .timeout: continue
            case .end: return nil
            }
        }
    }

    @discardableResult
    public func send(_ packet: [UInt8]) -> Bool { write(packet) }
}

/// What answers a session's requests: the agent's artifact space, or the
/// coordinator passing them on to agents.
public protocol SFTPHandler: AnyObject {
    /// The extensions announced in VERSION (name, version).
    var extensions: [(String, String)] { get }
    /// The reply packet for `request`; nil when the handler sends it itself
    /// later (the coordinator, once an agent answered).
    func answer(_ request: SFTPRequest) -> [UInt8]?
    /// The session ended (`reason` nil: the client closed it): whatever is
    /// still open is dropped, and an upload without its CLOSE stores nothing.
    func finish(reason: String?)
}

/// One SFTP version 3 session over a channel: INIT and VERSION, then each
/// request answered in turn by the handler.
public enum SFTPServer {
    /// What both our servers announce in VERSION, as OpenSSH's does.
    public static let extensions: [(String, String)] = [
        ("posix-rename@openssh.com", "1"), ("statvfs@openssh.com", "2"), ("fstatvfs@openssh.com", "2"), ("limits@openssh.com", "1"),
    ]
    /// The largest READ or WRITE answered, as OpenSSH's server.
    public static let maxTransfer = SFTPFramer.maxPacket - 1024
    /// Handles open at once (OpenSSH's client keeps 64 requests in flight).
    public static let maxHandles = 64

    /// The reply to `limits@openssh.com`: the packet, READ and WRITE sizes and handles above.
    public static func limits(_ id: UInt32) -> [UInt8] {
        SFTPReply.extended(id) {
            $0.uint64(UInt64(SFTPFramer.maxPacket))
            $0.uint64(UInt64(maxTransfer))
            $0.uint64(UInt64(maxTransfer))
            $0.uint64(UInt64(maxHandles))
        }
    }

    /// Serves until the client leaves; returns why the session was ended
    /// by us (a broken stream), or nil when the client ended it.
    @discardableResult
    public static func serve(_ channel: any SFTPChannel, _ handler: any SFTPHandler) -> String? {
        var framer = SFTPFramer()
        var started = false
        var reason: String?
        reading: while let bytes = channel.receive(atLeast: framer.needed) {
            framer.append(bytes)
            while true {
                let packet: SFTPPacketBytes
                do throws(SFTPMalformed) {
                    guard let next = try framer.nextPacket() else { break }
                    packet = next
                } catch {
                    reason = error.description
                    break reading
                }
                if !started {
                    var reader = SFTPReader(packet)
                    guard (try? reader.byte()) == SFTPPacketType.initialize.rawValue, (try? reader.uint32()) != nil else {
                        reason = "the client did not start with INIT"
                        break reading
                    }
                    // We speak version 3 whatever the client offers; OpenSSH does the same.
                    started = true
                    channel.send(SFTPReply.version(handler.extensions))
                    continue
                }
                let reply: [UInt8]?
                do throws(SFTPMalformed) {
                    reply = handler.answer(try SFTPRequest(packet: packet))
                } catch {
                    guard let id = error.id else {
                        reason = error.description
                        break reading
                    }
                    let unknown = error.description.hasPrefix("unknown request type")
                    reply = SFTPReply.status(id, unknown ? .operationUnsupported : .badMessage, error.description)
                }
                if let reply, !channel.send(reply) { break reading }
            }
        }
        handler.finish(reason: reason)
        return reason
    }
}

/// Paths as SFTP clients send them, absolute or relative to the session's
/// root ("/"); resolved by their text alone (there are no links to follow):
/// `.` and empty parts go, `..` takes one back but never above the root.
public enum SFTPPath {
    public static func components(_ path: String) -> [String] {
        var components: [String] = []
        // Cut at every "/" scalar: cut by Characters, a "/" with a combining
        // mark after it is one grapheme, and "../\u{301}x" stayed one part.
        for scalars in path.unicodeScalars.split(separator: "/", omittingEmptySubsequences: true) {
            let part = String(String.UnicodeScalarView(scalars))
            switch part {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(String(part))
            }
        }
        return components
    }

    public static func text(_ components: [String]) -> String { "/" + components.joined(separator: "/") }
}

extension SFTPName {
    /// A name with the line `ls -l` shows for it, as OpenSSH's server writes
    /// it: mode, links, owner, group, size, date (UTC), name.
    public init(_ filename: String, _ attributes: SFTPAttributes, owner: String) {
        let mode = attributes.permissions ?? 0
        var text = attributes.isFolder ? "d" : "-"
        for shift in [6, 3, 0] {
            let bits = mode >> UInt32(shift) & 7
            text += (bits & 4 != 0 ? "r" : "-") + (bits & 2 != 0 ? "w" : "-") + (bits & 1 != 0 ? "x" : "-")
        }
        let size = String(attributes.size ?? 0)
        let column = { (text: String, width: Int) in text + String(repeating: " ", count: max(0, width - text.count)) }
        let sizeColumn = String(repeating: " ", count: max(0, 8 - size.count)) + size
        let line = column(text, 10) + "    1 " + column(owner, 8) + " " + column(owner, 8) + " " + sizeColumn + " "
            + Self.date(attributes.times?.modified ?? 0) + " " + filename
        self.init(filename: filename, longname: line, attributes: attributes)
    }

    /// "Dec  7 12:00" within six months, "Dec  7  2025" further away.
    static func date(_ seconds: UInt32) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let recent = abs(Int(Int64(seconds) - Int64(Glibc.time(nil)))) < 182 * 86400
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, recent ? "%b %e %H:%M" : "%b %e  %Y", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
