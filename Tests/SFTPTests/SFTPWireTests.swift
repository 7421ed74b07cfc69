import SFTP
import Testing

/// Builds a packet as a client would send it: length, type, id, then `body`.
private func packet(_ type: UInt8, id: UInt32 = 7, _ body: (inout SFTPWriter) -> Void = { _ in }) -> [UInt8] {
    var writer = SFTPWriter()
    writer.uint32(0)
    writer.byte(type)
    writer.uint32(id)
    body(&writer)
    var bytes = writer.bytes
    let length = UInt32(bytes.count - 4)
    bytes[0] = UInt8(length >> 24)
    bytes[1] = UInt8(length >> 16 & 0xff)
    bytes[2] = UInt8(length >> 8 & 0xff)
    bytes[3] = UInt8(length & 0xff)
    return bytes
}

/// The packets a framer cuts from `bytes` (fed whole), or the error it throws.
private func frames(_ chunks: [[UInt8]]) throws -> [[UInt8]] {
    var framer = SFTPFramer()
    var packets: [[UInt8]] = []
    for chunk in chunks {
        framer.append(chunk)
        while let next = try framer.next() { packets.append(next) }
    }
    return packets
}

/// The parse error of `bytes` (a packet with its length), which must fail.
private func malformed(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> SFTPMalformed? {
    return #expect(throws: SFTPMalformed.self, sourceLocation: sourceLocation) {
        try SFTPRequest(packet: Array(bytes.dropFirst(4)))
    }
}

private func attributesVariants() -> [SFTPAttributes] {
    var owner = SFTPAttributes()
    owner.owner = (1000, 1001)
    var times = SFTPAttributes()
    times.times = (access: 1_700_000_000, modified: 1_700_000_123)
    var all = SFTPAttributes(size: 0xFFFF_FFFF_FFFF_FFFF, permissions: 0o100644, modified: 0xFFFF_FFFF)
    all.owner = (0, 0xFFFF_FFFF)
    return [SFTPAttributes(), SFTPAttributes(size: 1234), owner, SFTPAttributes(permissions: 0o040755), times, all]
}

@Suite("SFTP: packets on the wire")
struct SFTPWireTests {
    static let handle: [UInt8] = Array("h-0001".utf8)

    static var everyOperation: [SFTPRequest.Operation] {
        let longHandle = [UInt8](repeating: 0xAB, count: SFTPRequest.maxHandle)
        var operations: [SFTPRequest.Operation] = [
            .close(handle: handle), .close(handle: longHandle), .close(handle: []),
            .read(handle: handle, offset: 0xFFFF_FFFF_FFFF_FFFF, length: 0xFFFF_FFFF),
            .write(handle: handle, offset: 1 << 40, data: ArraySlice((0..<255 * 1024).map { UInt8(truncatingIfNeeded: $0 * 7) })),
            .write(handle: handle, offset: 0, data: []),
            .lstat(path: "/BOARD/ünïcødé ✓.bin"), .fstat(handle: handle),
            .opendir(path: "/"), .readdir(handle: handle), .remove(path: "a b/c"), .rmdir(path: "日本"),
            .realpath(path: "."), .realpath(path: ""), .stat(path: "/x/../y"),
            .rename(from: "/a", to: "/b/ç"), .readlink(path: "/l"), .symlink(link: "/l", target: "/t"),
            .extended(name: "statvfs@openssh.com", data: ArraySlice(Array([0, 0, 0, 1, 0x2F]))),
            .extended(name: "limits@openssh.com", data: []),
        ]
        for (index, attributes) in attributesVariants().enumerated() {
            operations.append(.open(path: "/b/file\(index) é", flags: [.write, .create, .truncate], attributes: attributes))
            operations.append(.setstat(path: "/b/\(index)", attributes: attributes))
            operations.append(.fsetstat(handle: handle, attributes: attributes))
            operations.append(.mkdir(path: "/d\(index)", attributes: attributes))
        }
        operations.append(.open(path: "/r", flags: SFTPOpenFlags(rawValue: 0xFFFF_FFFF), attributes: SFTPAttributes()))
        return operations
    }

    @Test("every request reads back as written, through the framer, with its id")
    func roundTrip() throws {
        let ids: [UInt32] = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF]
        var requests: [SFTPRequest] = []
        for (index, operation) in Self.everyOperation.enumerated() {
            requests.append(SFTPRequest(id: ids[index % ids.count], operation))
        }
        let stream = requests.flatMap(\.packet)
        let packets = try frames([stream])
        try #require(packets.count == requests.count)
        for (packet, request) in zip(packets, requests) {
            let parsed = try SFTPRequest(packet: packet)
            #expect(parsed == request, "\(request.operation)")
            #expect(parsed.id == request.id)
        }
        // Each kind of operation is covered (one case per request type, and extended).
        let types = Set(packets.map { $0[0] })
        #expect(types == Set((3...20).map { UInt8($0) } + [200]))
        // In pieces (as the coordinator passes requests on) the bytes are the same.
        for request in requests {
            #expect(request.pieces.flatMap { $0 } == request.packet, "\(request.operation)")
        }
    }

    @Test("a WRITE passed on in pieces: its data is the received bytes themselves, the head counts them")
    func writeInPieces() throws {
        let data = (0..<200 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var framer = SFTPFramer()
        framer.append(SFTPRequest(id: 5, .write(handle: Self.handle, offset: 4096, data: data[...])).packet)
        let received = try SFTPRequest(packet: try #require(try framer.nextPacket()))
        let pieces = received.pieces
        try #require(pieces.count == 2)
        guard case .write(_, _, let slice) = received.operation else { Issue.record("not a write"); return }
        // The same storage, not a copy: the data piece starts where the received data lies.
        let shared = pieces[1].withUnsafeBytes { piece in slice.withUnsafeBytes { piece.baseAddress == $0.baseAddress } }
        #expect(shared)
        let stream = pieces.flatMap { $0 }
        let again = try SFTPRequest(packet: try #require(try frames([stream]).first))
        #expect(again == received)
        #expect(pieces[0].count == 4 + 1 + 4 + 4 + Self.handle.count + 8 + 4)
    }

    @Test("a 255 KiB write keeps every byte and fits the packet limit")
    func bigWrite() throws {
        let data = (0..<255 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
        let request = SFTPRequest(id: 42, .write(handle: Self.handle, offset: 1 << 33, data: ArraySlice(data)))
        let bytes = request.packet
        #expect(bytes.count - 4 <= SFTPFramer.maxPacket)
        let parsed = try SFTPRequest(packet: try #require(try frames([bytes]).first))
        guard case .write(let handle, let offset, let read) = parsed.operation else {
            Issue.record("not a write: \(parsed.operation)")
            return
        }
        #expect(handle == Self.handle && offset == 1 << 33)
        #expect(Array(read) == data)
    }

    @Test("attribute flags: only the fields whose flag is set are written and read")
    func attributeFlags() throws {
        for attributes in attributesVariants() {
            var writer = SFTPWriter()
            attributes.write(to: &writer)
            var reader = SFTPReader(writer.bytes)
            let read = try SFTPAttributes(reading: &reader)
            #expect(read == attributes)
            #expect(reader.remaining == 0)
            let flags = writer.bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect((flags & 0x1 != 0) == (attributes.size != nil))
            #expect((flags & 0x2 != 0) == (attributes.owner != nil))
            #expect((flags & 0x4 != 0) == (attributes.permissions != nil))
            #expect((flags & 0x8 != 0) == (attributes.times != nil))
            #expect(flags & ~0xF == 0)
        }
        // Extended attribute pairs are read past and dropped.
        let setstat = packet(9) {
            $0.text("/f")
            $0.uint32(0x8000_0001)
            $0.uint64(99)
            $0.uint32(2)
            $0.text("a@x"); $0.text("1"); $0.text("b@x"); $0.string([0, 0xFF])
        }
        let request = try SFTPRequest(packet: Array(setstat.dropFirst(4)))
        #expect(request == SFTPRequest(id: 7, .setstat(path: "/f", attributes: SFTPAttributes(size: 99))))
    }

    @Test("framer: one byte at a time, and many packets in one chunk")
    func framerPieces() throws {
        let requests = (0..<50).map { SFTPRequest(id: UInt32($0), .stat(path: "/p\($0)")) }
        let stream = requests.flatMap(\.packet)
        let whole = try frames([stream])
        let bytewise = try frames(stream.map { [$0] })
        var odd: [[UInt8]] = []
        var rest = stream[...]
        var size = 1
        while !rest.isEmpty {
            odd.append(Array(rest.prefix(size)))
            rest = rest.dropFirst(size)
            size = size % 13 + 3
        }
        let uneven = try frames(odd)
        #expect(whole.count == 50)
        #expect(bytewise == whole)
        #expect(uneven == whole)
        #expect(try whole.map { try SFTPRequest(packet: $0) } == requests)

        // Half a packet waits; the rest completes it.
        var framer = SFTPFramer()
        framer.append(stream.prefix(6))
        let early = try framer.next()
        #expect(early == nil)
        #expect(framer.pending == 6)
        framer.append(stream[6..<requests[0].packet.count])
        let first = try framer.next()
        #expect(first == whole[0])
        #expect(framer.pending == 0)
    }

    @Test("a packet parsed where it lies in the framer never reads into the packet after it")
    func packetsInPlaceStopAtTheirEnd() throws {
        // A WRITE whose data claims 40 bytes while its packet holds 10; the
        // 40 are there in the stream, in the packet that follows.
        let short = packet(SFTPPacketType.write.rawValue) {
            $0.string(Self.handle)
            $0.uint64(0)
            $0.uint32(40)
            for _ in 0..<10 { $0.byte(1) }
        }
        let next = SFTPRequest(id: 8, .stat(path: "/a-long-enough-path-to-borrow")).packet
        var framer = SFTPFramer()
        framer.append(short + next)
        let first = try #require(try framer.nextPacket())
        #expect(first.storage.count == short.count + next.count, "the packet was copied, not shared")
        #expect(throws: SFTPMalformed.self) { try SFTPRequest(packet: first) }
        let second = try #require(try framer.nextPacket())
        #expect(try SFTPRequest(packet: second) == SFTPRequest(id: 8, .stat(path: "/a-long-enough-path-to-borrow")))
        // A WRITE's data is a slice of the framer's storage, and only its own bytes.
        let write = SFTPRequest(id: 9, .write(handle: Self.handle, offset: 0, data: ArraySlice(repeating: 7, count: 1000)))
        framer.append(write.packet + next)
        let parsed = try SFTPRequest(packet: try #require(try framer.nextPacket()))
        #expect(parsed == write)
        guard case .write(_, _, let data) = parsed.operation else { Issue.record("not a write"); return }
        #expect(data.count == 1000 && data.allSatisfy { $0 == 7 })
    }

    @Test("framer: length 0 and a length past 256 KiB end the stream; 256 KiB itself is taken")
    func framerLimits() throws {
        #expect(throws: SFTPMalformed.self) { try frames([[0, 0, 0, 0, 1, 2, 3]]) }
        let over = UInt32(SFTPFramer.maxPacket + 1)
        #expect(throws: SFTPMalformed.self) {
            try frames([[UInt8(over >> 24), UInt8(over >> 16 & 0xff), UInt8(over >> 8 & 0xff), UInt8(over & 0xff), 3]])
        }
        // The largest packet allowed.
        let max = UInt32(SFTPFramer.maxPacket)
        let header = [UInt8(max >> 24), UInt8(max >> 16 & 0xff), UInt8(max >> 8 & 0xff), UInt8(max & 0xff)]
        let body = [UInt8](repeating: 6, count: SFTPFramer.maxPacket)
        #expect(try frames([header, body]) == [body])
        // The error says what was wrong.
        var zero = SFTPFramer()
        zero.append([0, 0, 0, 0])
        do throws(SFTPMalformed) {
            _ = try zero.next()
            Issue.record("length 0 was taken")
        } catch {
            #expect(error.description.contains("length 0"))
        }
    }

    @Test("framer: a 4 GiB length is refused at once, before any of it is buffered")
    func framerHugeLength() throws {
        var framer = SFTPFramer()
        framer.append([0xFF, 0xFF, 0xFF, 0xFF, 6, 0, 0, 0, 1])
        do throws(SFTPMalformed) {
            _ = try framer.next()
            Issue.record("a 4 GiB packet was waited for")
        } catch {
            #expect(error.description.contains("4294967295"))
            #expect(error.id == nil)
        }
        #expect(framer.pending == 9, "nothing but the bytes given is held")
        // And 2 GiB, where a signed 32-bit length would go negative.
        var signed = SFTPFramer()
        signed.append([0x80, 0, 0, 0, 3])
        #expect(throws: SFTPMalformed.self) { try signed.next() }
    }

    @Test("a request cut at any byte is refused, never a trap")
    func truncatedEverywhere() throws {
        for operation in Self.everyOperation {
            if case .write(_, _, let data) = operation, data.count > 64 { continue }  // the 255 KiB one: too slow bytewise
            let request = SFTPRequest(id: 0x0102_0304, operation)
            let body = Array(request.packet.dropFirst(4))
            let nameEnd: Int
            if case .extended(let name, _) = operation { nameEnd = 1 + 4 + 4 + name.utf8.count } else { nameEnd = body.count }
            for cut in 0..<body.count {
                let piece = Array(body[..<cut])
                if cut >= nameEnd {
                    // An extension's data is the rest of the packet: a shorter one still parses.
                    #expect((try? SFTPRequest(packet: piece)) != nil)
                    continue
                }
                do throws(SFTPMalformed) {
                    _ = try SFTPRequest(packet: piece)
                    Issue.record("\(operation) cut at \(cut) of \(body.count) parsed")
                } catch {
                    // Once the id was read, the error carries it (a BAD_MESSAGE for it).
                    #expect(error.id == (cut >= 5 ? 0x0102_0304 : nil), "cut at \(cut)")
                }
            }
        }
        // A big write cut at its edges.
        let big = Array(SFTPRequest(id: 1, .write(handle: Self.handle, offset: 0, data: ArraySlice(repeating: 1, count: 255 * 1024))).packet.dropFirst(4))
        for cut in [0, 1, 5, 9, 9 + Self.handle.count, big.count - 1] {
            #expect(throws: SFTPMalformed.self) { try SFTPRequest(packet: Array(big[..<cut])) }
        }
    }

    @Test("hostile lengths and names: a 0xFFFFFFFF string, a long handle, non-UTF-8 and NUL in paths")
    func hostileFields() throws {
        // A string that says it is 4 GiB long.
        for type: UInt8 in [3, 4, 6, 16, 200] {
            let error = malformed(packet(type, id: 9) { $0.uint32(0xFFFF_FFFF); $0.append([0x2F, 0x61]) })
            #expect(error?.id == 9)
            #expect(error?.description.contains("4294967295") == true, "type \(type): \(error?.description ?? "")")
        }
        // A write whose data claims more than the packet holds.
        let write = malformed(packet(6, id: 10) { $0.string(Self.handle); $0.uint64(0); $0.uint32(0xFFFF_FFFF); $0.append([1, 2, 3]) })
        #expect(write?.id == 10)
        // A handle of 257 bytes (256 is the limit) in every request that takes one.
        let long = [UInt8](repeating: 0x41, count: SFTPRequest.maxHandle + 1)
        for type: UInt8 in [4, 5, 6, 8, 10, 12] {
            let error = malformed(packet(type, id: 11) {
                $0.string(long); $0.uint64(0); $0.uint32(0); $0.uint32(0)
            })
            #expect(error?.id == 11)
            #expect(error?.description.contains("handle") == true)
        }
        // Not UTF-8, NUL, in each path field.
        for raw: [UInt8] in [[0x2F, 0xC3, 0x28], [0xFF, 0xFE], [0x2F, 0x61, 0x00, 0x62], [0], [0xED, 0xA0, 0x80]] {
            for type: UInt8 in [3, 7, 9, 11, 13, 14, 15, 16, 17, 19] {
                let error = malformed(packet(type, id: 12) { $0.string(raw); $0.uint32(0); $0.uint32(0) })
                #expect(error?.id == 12)
                #expect(error?.description.contains("UTF-8") == true)
            }
            // Either name of a rename or a symlink.
            #expect(malformed(packet(18, id: 13) { $0.text("/ok"); $0.string(raw) })?.id == 13)
            #expect(malformed(packet(20, id: 13) { $0.string(raw); $0.text("/ok") })?.id == 13)
            #expect(malformed(packet(200, id: 13) { $0.string(raw) })?.id == 13)
        }
        // Attributes with the EXTENDED flag and 0xFFFFFFFF pairs: runs out of packet, not of time.
        let extended = malformed(packet(14, id: 14) { $0.text("/d"); $0.uint32(0x8000_0000); $0.uint32(0xFFFF_FFFF); $0.text("a"); $0.text("b") })
        #expect(extended?.id == 14)
        let all = malformed(packet(10, id: 15) { $0.string(Self.handle); $0.uint32(0xFFFF_FFFF); $0.append([UInt8](repeating: 0, count: 28)); $0.uint32(0xFFFF_FFFF) })
        #expect(all?.id == 15)
    }

    @Test("an unknown type is refused with its id, as an unknown request type; a reply type is no request")
    func unknownTypes() throws {
        for type: UInt8 in [0, 21, 99, 199, 202, 255] {
            let error = malformed(packet(type, id: 0xDEAD_BEEF) { $0.text("whatever") })
            #expect(error?.id == 0xDEAD_BEEF)
            #expect(error?.description.hasPrefix("unknown request type") == true, "\(error?.description ?? "")")
        }
        for type: UInt8 in [1, 2, 101, 102, 103, 104, 105, 201] {
            let error = malformed(packet(type, id: 5) { $0.uint32(0); $0.text("x"); $0.text("en") })
            #expect(error?.id == 5)
            #expect(error?.description.hasPrefix("unknown request type") == false)
        }
        // Too short to hold an id: no id to answer.
        for short: [UInt8] in [[], [3], [3, 0, 0, 0], [222, 1]] {
            let error = #expect(throws: SFTPMalformed.self) { try SFTPRequest(packet: short) }
            #expect(error != nil && error?.id == nil)
        }
    }

    @Test("paths resolve by their text and never above /")
    func paths() {
        #expect(SFTPPath.components("") == [])
        #expect(SFTPPath.components("/") == [])
        #expect(SFTPPath.components(".") == [])
        #expect(SFTPPath.components("a/../..") == [])
        #expect(SFTPPath.components("/a/./b//c/") == ["a", "b", "c"])
        #expect(SFTPPath.components("../../etc/passwd") == ["etc", "passwd"])
        #expect(SFTPPath.components("/a/b/../../../../c/..d/...") == ["c", "..d", "..."])
        #expect(SFTPPath.text(SFTPPath.components("//x/./y/")) == "/x/y")
        #expect(SFTPPath.text([]) == "/")
        // A "/" with a combining mark after it is one Character with the mark,
        // but still cuts: no part holds a "/", and ".." before it still counts.
        #expect(SFTPPath.components("../\u{301}x") == ["\u{301}x"])
        #expect(SFTPPath.components("/a/\u{301}/../../..\u{600}/b/../c") == ["..\u{600}", "c"])
        #expect(SFTPPath.components("x/..\u{200D}/y") == ["x", "..\u{200D}", "y"])
        for path in ["../\u{301}x", "/\u{301}../\u{301}../etc", "a\u{600}/../../\u{20E3}/..", "\u{1F1E6}/\u{1F1E8}/../..", "é/../../\u{FE0F}"] {
            let components = SFTPPath.components(path)
            #expect(!components.contains { $0.utf8.contains(UInt8(ascii: "/")) || $0 == "." || $0 == ".." || $0.isEmpty }, "\(path): \(components)")
            #expect(SFTPPath.components(SFTPPath.text(components)) == components, "\(path)")
        }
    }

    @Test("a reply's head: type, id, and the handle or status")
    func replyHead() throws {
        let handle = try SFTPReplyHead(packet: Array(SFTPReply.handle(77, Self.handle).dropFirst(4)))
        #expect(handle.type == 102 && handle.id == 77 && handle.handle == Self.handle)
        #expect(handle.status == nil)

        let status = try SFTPReplyHead(packet: Array(SFTPReply.status(78, .noSuchFile, "no /x here").dropFirst(4)))
        #expect(status.type == 101 && status.id == 78 && status.handle == nil)
        #expect(status.status?.code == 2 && status.status?.message == "no /x here")
        let plain = try SFTPReplyHead(packet: Array(SFTPReply.status(79, .eof).dropFirst(4)))
        #expect(plain.status?.code == 1 && plain.status?.message == "End of file")

        let data = try SFTPReplyHead(packet: Array(SFTPReply.data(80, [1, 2, 3]).dropFirst(4)))
        #expect(data.type == 103 && data.id == 80 && data.handle == nil && data.status == nil)

        // Garbage.
        for garbage: [UInt8] in [[], [102], [102, 0, 0], [101, 0, 0, 0, 1], [101, 0, 0, 0, 1, 0, 0],
                                 [102, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2],
                                 [102, 0, 0, 0, 1, 0, 0, 1, 1] + [UInt8](repeating: 0, count: 257)] {
            #expect(throws: SFTPMalformed.self, "\(garbage.prefix(12))") { try SFTPReplyHead(packet: garbage) }
        }
    }

    @Test("a name's long line has the shape of OpenSSH's ls -l")
    func longname() {
        let file = SFTPName("name", SFTPAttributes(size: 1234, permissions: 0o100644, modified: 1_765_108_800), owner: "alice")
        let fields = file.longname.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.count == 9, "\(file.longname)")
        #expect(file.longname.hasPrefix("-rw-r--r--    1 alice    alice        1234 "), "\(file.longname)")
        #expect(file.longname.hasSuffix(" name"))
        #expect(fields.first == "-rw-r--r--" && fields.last == "name" && fields.count > 4 && fields[4] == "1234")
        #expect(file.filename == "name" && file.attributes.size == 1234)

        let folder = SFTPName("my dir", SFTPAttributes(size: 0, permissions: 0o040755, modified: 0), owner: "bob")
        #expect(folder.longname.hasPrefix("drwxr-xr-x    1 bob      bob             0 "), "\(folder.longname)")
        #expect(folder.longname.hasSuffix(" my dir"), "\(folder.longname)")

        // A long owner and size push the columns out rather than being cut.
        let big = SFTPName("f", SFTPAttributes(size: 123_456_789_012, permissions: 0o100600, modified: 0), owner: "averylongname")
        #expect(big.longname.hasPrefix("-rw-------    1 averylongname averylongname 123456789012 "), "\(big.longname)")
    }
}

/// A channel fed from a list of chunks; what is sent is kept.
private final class FakeChannel: SFTPChannel, @unchecked Sendable {
    var input: [[UInt8]]
    var sent: [[UInt8]] = []

    init(_ input: [[UInt8]]) { self.input = input }

    func receive() -> [UInt8]? { input.isEmpty ? nil : input.removeFirst() }

    func send(_ packet: [UInt8]) -> Bool {
        sent.append(packet)
        return true
    }

    /// The replies, framed again.
    var replies: [[UInt8]] { (try? frames(sent)) ?? [] }
}

/// Answers STAT with attributes and anything else with OK.
private final class FakeHandler: SFTPHandler {
    var extensions: [(String, String)] = [("statvfs@openssh.com", "2"), ("fsync@openssh.com", "1")]
    var answered: [SFTPRequest] = []
    var finished: [String?] = []

    func answer(_ request: SFTPRequest) -> [UInt8]? {
        answered.append(request)
        if case .stat = request.operation { return SFTPReply.attributes(request.id, SFTPAttributes(size: 5)) }
        return SFTPReply.status(request.id, .ok)
    }

    func finish(reason: String?) { finished.append(reason) }
}

@Suite("SFTP: a session")
struct SFTPServerTests {
    static let initialize = SFTPWriter.packet(.initialize) { $0.uint32(3) }

    @Test("INIT is answered with VERSION 3 and the handler's extensions; requests go to the handler")
    func version() throws {
        let stat = SFTPRequest(id: 1, .stat(path: "/b"))
        let channel = FakeChannel([Self.initialize, stat.packet])
        let handler = FakeHandler()
        #expect(SFTPServer.serve(channel, handler) == nil)
        let replies = channel.replies
        try #require(replies.count == 2)
        var reader = SFTPReader(replies[0])
        #expect(try reader.byte() == 2)
        #expect(try reader.uint32() == 3)
        var extensions: [String] = []
        while reader.remaining > 0 { extensions.append("\(try reader.text())=\(try reader.text())") }
        #expect(extensions == ["statvfs@openssh.com=2", "fsync@openssh.com=1"])
        let head = try SFTPReplyHead(packet: replies[1])
        #expect(head.type == 105 && head.id == 1)
        #expect(handler.answered == [stat])
        #expect(handler.finished == [nil], "the client ended it: finish(reason: nil)")
    }

    @Test("a session that does not start with INIT is ended with a reason")
    func noInit() {
        for first in [SFTPRequest(id: 1, .stat(path: "/")).packet, [0, 0, 0, 1, 1], [0, 0, 0, 2, 2, 0]] {
            let channel = FakeChannel([first, Self.initialize])
            let handler = FakeHandler()
            let reason = SFTPServer.serve(channel, handler)
            #expect(reason?.contains("INIT") == true, "\(reason ?? "nil")")
            #expect(handler.finished == [reason])
            #expect(handler.answered.isEmpty)
            #expect(channel.sent.isEmpty)
        }
    }

    @Test("a malformed request gets BAD_MESSAGE with its id, an unknown type OP_UNSUPPORTED, and the session goes on")
    func badRequests() throws {
        let bad = packet(17, id: 21) { $0.uint32(0xFFFF_FFFF) }           // a stat whose path claims 4 GiB
        let notUTF8 = packet(16, id: 22) { $0.string([0xC3, 0x28]) }
        let unknown = packet(77, id: 23) { $0.text("?") }
        let reply = packet(101, id: 24) { $0.uint32(0) }
        let after = SFTPRequest(id: 25, .stat(path: "/after"))
        // All in one chunk, then byte by byte.
        let stream = Self.initialize + bad + notUTF8 + unknown + reply + after.packet
        for input in [[stream], stream.map { [$0] }] {
            let channel = FakeChannel(input)
            let handler = FakeHandler()
            #expect(SFTPServer.serve(channel, handler) == nil)
            let heads = try channel.replies.dropFirst().map { try SFTPReplyHead(packet: $0) }
            try #require(heads.count == 5)
            #expect(heads.map(\.id) == [21, 22, 23, 24, 25])
            #expect(heads[0].type == 101 && heads[0].status?.code == SFTPStatusCode.badMessage.rawValue)
            #expect(heads[1].status?.code == SFTPStatusCode.badMessage.rawValue)
            #expect(heads[2].status?.code == SFTPStatusCode.operationUnsupported.rawValue)
            #expect(heads[2].status?.message.contains("77") == true)
            #expect(heads[3].status?.code == SFTPStatusCode.badMessage.rawValue)
            #expect(heads[4].type == 105)
            #expect(handler.answered == [after])
            #expect(handler.finished == [nil])
        }
    }

    @Test("an oversized or zero length ends the session with a reason; so does a packet too short for an id")
    func brokenStream() {
        let stat = SFTPRequest(id: 2, .stat(path: "/")).packet
        for broken: [UInt8] in [[0x00, 0x04, 0x00, 0x01, 17], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0, 0, 0, 2, 17, 0]] {
            let channel = FakeChannel([Self.initialize, stat, broken, stat])
            let handler = FakeHandler()
            let reason = SFTPServer.serve(channel, handler)
            #expect(reason != nil && reason?.isEmpty == false)
            #expect(handler.finished == [reason])
            #expect(handler.answered.count == 1, "nothing after the broken packet is read")
            #expect(channel.input.count == 1, "the session ended at once")
        }
    }

    @Test("the client ending its input ends the session with finish(reason: nil), also mid-packet")
    func clientEnds() {
        for input: [[UInt8]] in [[], [Self.initialize], [Self.initialize, Array(SFTPRequest(id: 3, .stat(path: "/x")).packet.prefix(7))]] {
            let channel = FakeChannel(input)
            let handler = FakeHandler()
            #expect(SFTPServer.serve(channel, handler) == nil)
            #expect(handler.finished == [nil])
            #expect(handler.answered.isEmpty)
        }
    }
}
