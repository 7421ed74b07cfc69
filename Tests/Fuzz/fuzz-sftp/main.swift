import FuzzSupport
import SFTP

/// An SFTP client's byte stream, as the agent's and the coordinator's SFTP
/// servers read it: cut into packets (fed whole and in two pieces, which
/// must cut the same), each parsed as a request, which must read back as
/// itself once encoded again (the coordinator passes requests on encoded);
/// the input as one packet too, as a reply's head, and as a path.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.bytes(size)
    var cuts: [[[UInt8]]] = []
    var refused: [Bool] = []
    for split in [bytes.count, bytes.count / 2] {
        var framer = SFTPFramer()
        var packets: [[UInt8]] = []
        var failed = false
        framer.append(bytes[..<split])
        framer.append(bytes[split...])
        do throws(SFTPMalformed) {
            while let packet = try framer.next() {
                precondition(!packet.isEmpty && packet.count <= SFTPFramer.maxPacket, "a packet of \(packet.count) bytes")
                packets.append(packet)
            }
        } catch {
            failed = true
        }
        cuts.append(packets)
        refused.append(failed)
    }
    precondition(cuts[0] == cuts[1] && refused[0] == refused[1], "the framer cut differently in two pieces")

    for packet in cuts[0] + [bytes] {
        check(packet)
    }
    let components = SFTPPath.components(String(decoding: bytes, as: UTF8.self))
    precondition(!components.contains { $0.isEmpty || $0 == "." || $0 == ".." || $0.utf8.contains(UInt8(ascii: "/")) }, "\(components)")
    precondition(SFTPPath.components(SFTPPath.text(components)) == components, "a resolved path resolved again differs")
    return 0
}

func check(_ packet: [UInt8]) {
    do throws(SFTPMalformed) {
        let request = try SFTPRequest(packet: packet)
        let again: SFTPRequest
        do throws(SFTPMalformed) {
            again = try SFTPRequest(packet: Array(request.packet.dropFirst(4)))
        } catch {
            preconditionFailure("\(request) encoded does not parse: \(error)")
        }
        precondition(again == request, "\(request) read back as \(again)")
    } catch {
        // Refused; with the id when one was read.
        precondition(error.id == nil || packet.count >= 5, "an id from a packet of \(packet.count) bytes")
    }
    if let head = try? SFTPReplyHead(packet: packet) {
        precondition((head.handle?.count ?? 0) <= SFTPRequest.maxHandle, "a handle of \(head.handle?.count ?? 0) bytes")
    }
}

FuzzMain.run(testOneInput)
