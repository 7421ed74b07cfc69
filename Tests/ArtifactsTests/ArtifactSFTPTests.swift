import Artifacts
import Foundation
import Logging
import ProvisionerTesting
import SFTP
import Testing

/// The agent's SFTP view of a user's space, request by request, for what
/// OpenSSH's clients never send: writes out of order, in-place writes that
/// would leave a shorter file, sizes changed, unknown handles, reads past
/// the end, a session that ends with a file open. (The real clients are in
/// AgentShellTests/SFTPArtifactTests.)
@Suite struct ArtifactSFTPTests {
    let folder: TemporaryDirectory
    let store: ArtifactStore
    let sftp: ArtifactSFTP
    let told = Told()
    var next: UInt32 = 0

    final class Told: @unchecked Sendable {
        var lines: [String] = []
    }

    init() throws {
        folder = try TemporaryDirectory(prefix: "artifact-sftp-tests")
        store = try ArtifactStore(dataDirectory: folder.path("data"), quota: 1 << 20)
        let told = self.told
        sftp = ArtifactSFTP(store: store, user: "alice", boards: ["b1", "b2"], logger: Logger(label: "test"),
                            complain: { told.lines.append($0) })
    }

    var space: String { folder.path("data/users/alice") }

    func contents() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: space)) ?? []).sorted() }

    /// Sends one request; the reply's head (type, id, handle or status).
    mutating func ask(_ operation: SFTPRequest.Operation) throws -> (head: SFTPReplyHead, packet: [UInt8]) {
        next += 1
        let reply = try #require(sftp.answer(SFTPRequest(id: next, operation)))
        var framer = SFTPFramer()
        framer.append(reply)
        let packet = try #require(try framer.next())
        let head = try SFTPReplyHead(packet: packet)
        #expect(head.id == next)
        return (head, packet)
    }

    mutating func status(_ operation: SFTPRequest.Operation) throws -> SFTPStatusCode? {
        try ask(operation).head.status.flatMap { SFTPStatusCode(rawValue: $0.code) }
    }

    mutating func open(_ path: String, _ flags: SFTPOpenFlags) throws -> [UInt8] {
        let reply = try ask(.open(path: path, flags: flags, attributes: SFTPAttributes()))
        return try #require(reply.head.handle, "\(reply.head.status?.message ?? "?")")
    }

    mutating func write(_ handle: [UInt8], at offset: UInt64, _ text: String) throws -> SFTPStatusCode? {
        try status(.write(handle: handle, offset: offset, data: Array(text.utf8)[...]))
    }

    @Test mutating func aWriteOutOfOrderStoresNothingAndSaysWhy() throws {
        let handle = try open("/b1/kernel", [.write, .create, .truncate])
        #expect(try write(handle, at: 0, "0123456789") == .ok)
        #expect(try write(handle, at: 20, "later") == .failure)
        #expect(try write(handle, at: 10, "more") == .failure, "the upload stays failed")
        #expect(try status(.close(handle: handle)) == .failure)
        #expect(contents().isEmpty, "\(contents())")
        #expect(told.lines == ["'kernel': a write at 20 where 10 was next: files are sent in order; nothing was stored"], "told once")
    }

    @Test mutating func writingInPlaceOverALongerFileMustReachItsEndOrSetTheSize() throws {
        let first = try open("/b1/Image", [.write, .create, .truncate])
        #expect(try write(first, at: 0, "the long original file") == .ok)
        #expect(try status(.close(handle: first)) == .ok)

        // Without TRUNC, shorter, no size set: the original stays.
        let partial = try open("/b1/Image", [.write, .create])
        #expect(try write(partial, at: 0, "short") == .ok)
        #expect(try status(.close(handle: partial)) == .failure)
        #expect(try String(contentsOfFile: space + "/Image", encoding: .utf8) == "the long original file")
        #expect(told.lines.last?.contains("only 5 of its 22 bytes were written: nothing was stored") == true, "\(told.lines)")

        // As OpenSSH's scp does it: write, then set the size to what was written.
        let scp = try open("/b1/Image", [.write, .create])
        #expect(try write(scp, at: 0, "short") == .ok)
        #expect(try status(.fsetstat(handle: scp, attributes: SFTPAttributes(size: 4))) == .operationUnsupported)
        #expect(try status(.fsetstat(handle: scp, attributes: SFTPAttributes(size: 5))) == .ok)
        #expect(try status(.close(handle: scp)) == .ok)
        #expect(try String(contentsOfFile: space + "/Image", encoding: .utf8) == "short")

        // Appending (resuming) is refused: files are sent whole.
        let reply = try ask(.open(path: "/b1/Image", flags: [.write, .append], attributes: SFTPAttributes()))
        #expect(reply.head.status?.code == SFTPStatusCode.operationUnsupported.rawValue)
        #expect(try status(.setstat(path: "/b1/Image", attributes: SFTPAttributes(size: 0))) == .operationUnsupported)
        #expect(try String(contentsOfFile: space + "/Image", encoding: .utf8) == "short")
    }

    @Test mutating func readsStopAtTheEndAndHandlesAreChecked() throws {
        let writing = try open("/b2/dtb", [.write, .create, .truncate])
        #expect(try write(writing, at: 0, "device tree") == .ok)
        #expect(try status(.close(handle: writing)) == .ok)
        let handle = try open("/b1/dtb", [.read])
        let data = try ask(.read(handle: handle, offset: 7, length: UInt32.max))
        #expect(data.head.type == SFTPPacketType.data.rawValue)
        #expect(Array(data.packet.suffix(4)) == Array("tree".utf8), "a length past the file reads to its end")
        #expect(try status(.read(handle: handle, offset: 11, length: 10)) == .eof)
        #expect(try status(.read(handle: handle, offset: UInt64.max, length: 10)) == .eof)
        #expect(try status(.write(handle: handle, offset: 0, data: [1][...])) == .failure, "not opened for writing")
        #expect(try status(.read(handle: [9, 9, 9, 9], offset: 0, length: 10)) == .failure)
        #expect(try status(.read(handle: [], offset: 0, length: 10)) == .failure)
        #expect(try status(.close(handle: handle)) == .ok)
        #expect(try status(.close(handle: handle)) == .failure, "closed once")
        // Both boards are the same space on this agent.
        #expect(try status(.stat(path: "/b2/dtb")) == nil)
    }

    @Test mutating func aSessionEndingWithAnUploadOpenStoresNothing() throws {
        let handle = try open("/b1/rootfs.img", [.write, .create, .truncate])
        #expect(try write(handle, at: 0, "half of it") == .ok)
        #expect(contents().contains { $0.hasPrefix(".upload-") })
        sftp.finish(reason: nil)
        #expect(contents().isEmpty, "\(contents())")
    }

    @Test mutating func theQuotaHoldsAndTheRoomIsShown() throws {
        let handle = try open("/b1/big", [.write, .create, .truncate])
        let chunk = [UInt8](repeating: 7, count: 200 << 10)
        var offset: UInt64 = 0
        var last: SFTPStatusCode?
        for _ in 0..<6 {
            last = try status(.write(handle: handle, offset: offset, data: chunk[...]))
            offset += UInt64(chunk.count)
        }
        #expect(last == .failure)
        #expect(told.lines.count == 1 && told.lines[0].hasPrefix("quota exceeded: alice uses"), "\(told.lines)")
        _ = try status(.close(handle: handle))
        #expect(contents().isEmpty, "\(contents())")

        var writer = SFTPWriter()
        writer.text("/b1")
        let reply = try ask(.extended(name: "statvfs@openssh.com", data: writer.bytes[...]))
        var reader = SFTPReader(reply.packet, offset: 5)
        let blockSize = try reader.uint64(), _ = try reader.uint64(), blocks = try reader.uint64(), free = try reader.uint64()
        #expect(blockSize * blocks == 1 << 20 && free == blocks, "the whole quota is free again")
    }

    @Test mutating func listingsComeInBatchesAndTheRootShowsTheBoards() throws {
        for index in 0..<250 {
            let handle = try open("/b1/many/f\(index)", [.write, .create, .truncate])
            #expect(try status(.close(handle: handle)) == .ok)
        }
        let folder = try #require(try ask(.opendir(path: "/b1/many")).head.handle)
        var names = 0, batches = 0
        while true {
            let reply = try ask(.readdir(handle: folder))
            if reply.head.status?.code == SFTPStatusCode.eof.rawValue { break }
            var reader = SFTPReader(reply.packet, offset: 5)
            names += Int(try reader.uint32())
            batches += 1
        }
        #expect(names == 252 && batches == 3, "250 files with . and .., 100 a reply")

        let root = try #require(try ask(.opendir(path: "/")).head.handle)
        let boards = try ask(.readdir(handle: root))
        #expect(String(decoding: boards.packet, as: UTF8.self).contains("b1") && String(decoding: boards.packet, as: UTF8.self).contains("b2"))
        #expect(try status(.opendir(path: "/b3")) == .noSuchFile)
        #expect(try status(.remove(path: "/b1")) == .permissionDenied)
        #expect(try status(.symlink(link: "/b1/l", target: "/etc/passwd")) == .operationUnsupported)
    }
}
