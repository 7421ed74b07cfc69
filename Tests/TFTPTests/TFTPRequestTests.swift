import Testing
import TFTP

/// A request packet as a client sends it: the opcode, then each field NUL-terminated.
private func packet(_ opcode: UInt16, _ fields: String...) -> [UInt8] {
    var bytes = [UInt8(opcode >> 8), UInt8(opcode & 0xff)]
    for field in fields { bytes += Array(field.utf8) + [0] }
    return bytes
}

private func parse(_ bytes: [UInt8]) throws(TFTPRefusal) -> TFTPRequest {
    let result = bytes.withUnsafeBytes { buffer in
        Result { () throws(TFTPRefusal) -> TFTPRequest in try TFTPRequest(parsing: buffer) }
    }
    return try result.get()
}

/// The refusal `bytes` earn, or nil when they parse.
private func refusal(_ bytes: [UInt8]) -> TFTPRefusal? {
    do {
        _ = try parse(bytes)
        return nil
    } catch {
        return error
    }
}

@Suite("TFTPRequest(parsing:)")
struct TFTPRequestTests {
    @Test func readRequestInOctetMode() throws {
        let request = try parse(packet(1, "boards/board1/Image", "octet"))
        #expect(request.kind == .read)
        #expect(request.filename == "boards/board1/Image")
        #expect(request.mode == .octet)
        #expect(request.options.isEmpty)
    }

    @Test func writeRequestIsParsedAsWrite() throws {
        let request = try parse(packet(2, "upload.bin", "octet"))
        #expect(request.kind == .write)
        #expect(request.filename == "upload.bin")
    }

    @Test(arguments: ["netascii", "NETASCII", "NetAscii"])
    func netasciiModeIgnoresCase(_ mode: String) throws {
        #expect(try parse(packet(1, "readme.txt", mode)).mode == .netascii)
    }

    @Test(arguments: ["OCTET", "Octet"])
    func octetModeIgnoresCase(_ mode: String) throws {
        #expect(try parse(packet(1, "Image", mode)).mode == .octet)
    }

    @Test func optionsAreLowerCasedAndKeepTheirOrder() throws {
        let request = try parse(packet(1, "Image", "octet", "TSize", "0", "BLKSIZE", "1468", "windowsize", "16", "Timeout", "3"))
        #expect(request.options.map(\.name) == ["tsize", "blksize", "windowsize", "timeout"])
        #expect(request.options.map(\.value) == ["0", "1468", "16", "3"])
    }

    @Test func optionValuesKeepTheirCase() throws {
        let request = try parse(packet(1, "Image", "octet", "X-Vendor", "MiXeD"))
        #expect(request.options.first?.name == "x-vendor")
        #expect(request.options.first?.value == "MiXeD")
    }

    @Test func theFirstOfARepeatedOptionWins() throws {
        let request = try parse(packet(1, "Image", "octet", "blksize", "1024", "tsize", "0", "BLKSIZE", "512", "blksize", "8"))
        #expect(request.options.map(\.name) == ["blksize", "tsize"])
        #expect(request.options.map(\.value) == ["1024", "0"])
    }

    @Test func filenameKeepsSpacesAndUTF8() throws {
        #expect(try parse(packet(1, "my kernel/Ünïcode.img", "octet")).filename == "my kernel/Ünïcode.img")
    }

    @Test func bytesRoundTrip() throws {
        let request = TFTPRequest(kind: .read, filename: "shared/flasher.itb", mode: .netascii,
                                  options: [("blksize", "1468"), ("windowsize", "16"), ("tsize", "0")])
        #expect(request.bytes == packet(1, "shared/flasher.itb", "netascii", "blksize", "1468", "windowsize", "16", "tsize", "0"))
        let parsed = try parse(request.bytes)
        #expect(parsed == request)

        let write = TFTPRequest(kind: .write, filename: "x", mode: .octet)
        #expect(write.bytes == [0, 2, 0x78, 0, 0x6f, 0x63, 0x74, 0x65, 0x74, 0])
        #expect(try parse(write.bytes) == write)
    }

    @Test func equalityComparesOptions() {
        let a = TFTPRequest(kind: .read, filename: "f", mode: .octet, options: [("blksize", "512")])
        let b = TFTPRequest(kind: .read, filename: "f", mode: .octet, options: [("blksize", "1024")])
        #expect(a != b)
        #expect(a == TFTPRequest(kind: .read, filename: "f", mode: .octet, options: [("blksize", "512")]))
    }

    // MARK: Refusals

    @Test func emptyPacketIsTruncated() {
        #expect(refusal([]) == TFTPRefusal(.illegalOperation, "truncated packet (0 bytes)"))
    }

    @Test func oneBytePacketIsTruncated() {
        #expect(refusal([0]) == TFTPRefusal(.illegalOperation, "truncated packet (1 bytes)"))
    }

    @Test func unknownOpcode() {
        #expect(refusal(packet(9, "Image", "octet")) == TFTPRefusal(.illegalOperation, "unknown opcode 9"))
        #expect(refusal(packet(0x0100, "Image", "octet")) == TFTPRefusal(.illegalOperation, "unknown opcode 256"))
    }

    @Test func dataPacketIsNotARequest() {
        #expect(refusal([0, 3, 0, 1, 0x41, 0x42]) == TFTPRefusal(.illegalOperation, "unexpected data packet, not a request"))
    }

    @Test func acknowledgementIsNotARequest() {
        #expect(refusal([0, 4, 0, 1]) == TFTPRefusal(.illegalOperation, "unexpected acknowledgement packet, not a request"))
    }

    @Test func missingNULTerminator() {
        var bytes = packet(1, "Image", "octet")
        bytes.removeLast()
        #expect(refusal(bytes) == TFTPRefusal(.illegalOperation, "malformed request: the last field is not NUL-terminated"))
        #expect(refusal(packet(1, "Image", "octet") + Array("blksize".utf8))?.code == .illegalOperation)
    }

    @Test func missingMode() {
        let expected = TFTPRefusal(.illegalOperation, "malformed request: missing filename or mode")
        #expect(refusal(packet(1, "Image")) == expected)
        #expect(refusal([0, 1]) == expected)
    }

    @Test func optionWithoutValue() {
        #expect(refusal(packet(1, "Image", "octet", "blksize", "1468", "tsize"))
            == TFTPRefusal(.illegalOperation, "malformed request: option 'tsize' has no value"))
    }

    @Test func emptyFilename() {
        #expect(refusal(packet(1, "", "octet")) == TFTPRefusal(.illegalOperation, "malformed request: empty filename"))
    }

    @Test(arguments: ["a\tb", "line\nbreak", "bell\u{07}", "del\u{7f}", "\u{1b}[2J"])
    func controlCharactersInFilename(_ name: String) {
        #expect(refusal(packet(1, name, "octet")) == TFTPRefusal(.accessViolation, "filename contains control characters"))
    }

    @Test func nonUTF8Bytes() {
        let bytes: [UInt8] = [0, 1, 0x66, 0xff, 0xfe, 0x67, 0] + Array("octet".utf8) + [0]
        #expect(refusal(bytes) == TFTPRefusal(.illegalOperation, "malformed request: a field is not UTF-8"))
        let badMode: [UInt8] = [0, 1, 0x66, 0, 0xc3, 0x28, 0]
        #expect(refusal(badMode)?.code == .illegalOperation)
    }

    @Test(arguments: ["mail", "foo", "MAIL", "binary"])
    func unknownModes(_ mode: String) {
        #expect(refusal(packet(1, "Image", mode)) == TFTPRefusal(.illegalOperation, "unsupported transfer mode '\(mode)'"))
    }

    @Test func refusalDescriptionIsItsMessage() {
        let refused = TFTPRefusal(.optionRefused, "option blksize 7 is out of range (8–65464)")
        #expect("\(refused)" == "option blksize 7 is out of range (8–65464)")
        #expect(refused.code.rawValue == 8)
    }
}
