import Testing
import TFTP

private func negotiate(_ options: [(name: String, value: String)], transferSize: Int? = 1000,
                       limits: TFTPLimits = TFTPLimits()) throws(TFTPRefusal) -> TFTPNegotiation {
    try TFTPNegotiation(options: options, transferSize: transferSize, limits: limits)
}

private func refusal(_ options: [(name: String, value: String)], limits: TFTPLimits = TFTPLimits()) -> TFTPRefusal? {
    do {
        _ = try negotiate(options, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// The acknowledged options as "name=value" strings, easy to compare.
private func acknowledged(_ negotiation: TFTPNegotiation) -> [String] {
    negotiation.acknowledged.map { "\($0.name)=\($0.value)" }
}

@Suite("TFTPNegotiation")
struct TFTPNegotiationTests {
    @Test func defaultsWithoutOptionsSendNoOACK() throws {
        var limits = TFTPLimits()
        limits.defaultTimeoutMicroseconds = 750_000
        let negotiation = try negotiate([], limits: limits)
        #expect(negotiation.blockSize == 512)
        #expect(negotiation.windowSize == 1)
        #expect(negotiation.timeoutMicroseconds == 750_000)
        #expect(negotiation.acknowledged.isEmpty)
    }

    // MARK: blksize (RFC 2348)

    @Test(arguments: [8, 512, 1468, 65464])
    func blockSizeInRangeIsGranted(_ size: Int) throws {
        let negotiation = try negotiate([("blksize", String(size))])
        #expect(negotiation.blockSize == size)
        #expect(acknowledged(negotiation) == ["blksize=\(size)"])
    }

    @Test(arguments: ["65465", "100000"])
    func blockSizeAboveTheLimitIsClamped(_ value: String) throws {
        let negotiation = try negotiate([("blksize", value)])
        #expect(negotiation.blockSize == 65464)
        #expect(acknowledged(negotiation) == ["blksize=65464"])

        var limits = TFTPLimits()
        limits.maxBlockSize = 1468
        let small = try negotiate([("blksize", value)], limits: limits)
        #expect(small.blockSize == 1468)
        #expect(acknowledged(small) == ["blksize=1468"])
    }

    @Test func blockSizeBelowEightIsRefused() {
        #expect(refusal([("blksize", "7")]) == TFTPRefusal(.optionRefused, "option blksize 7 is out of range (8–65464)"))
    }

    @Test(arguments: ["abc", "", "-5", "1468 ", "+512", "0x200"])
    func blockSizeThatIsNotANumberIsRefused(_ value: String) {
        #expect(refusal([("blksize", value)]) == TFTPRefusal(.optionRefused, "option blksize '\(value)' is not a number"))
    }

    // MARK: timeout (RFC 2349)

    @Test(arguments: [1, 3, 10])
    func timeoutInRangeIsGranted(_ seconds: Int) throws {
        let negotiation = try negotiate([("timeout", String(seconds))])
        #expect(negotiation.timeoutMicroseconds == seconds * 1_000_000)
        #expect(acknowledged(negotiation) == ["timeout=\(seconds)"])
    }

    /// Valid (RFC 2349 allows up to 255 s) but longer than the server grants:
    /// left out of the OACK, the default timeout holds. A flood of requests
    /// asking 255 s no longer holds the transfer slots for half an hour.
    @Test(arguments: [11, 60, 255])
    func aLongTimeoutIsNotGranted(_ seconds: Int) throws {
        let negotiation = try negotiate([("timeout", String(seconds)), ("blksize", "1468")])
        #expect(negotiation.timeoutMicroseconds == TFTPLimits().defaultTimeoutMicroseconds)
        #expect(acknowledged(negotiation) == ["blksize=1468"])
    }

    @Test(arguments: ["0", "256"])
    func timeoutOutOfRangeIsRefused(_ value: String) {
        #expect(refusal([("timeout", value)]) == TFTPRefusal(.optionRefused, "option timeout \(value) is out of range (1–255)"))
    }

    // MARK: tsize (RFC 2349)

    @Test func transferSizeIsAcknowledgedWithTheRealSize() throws {
        let negotiation = try negotiate([("tsize", "0")], transferSize: 16_777_216)
        #expect(acknowledged(negotiation) == ["tsize=16777216"])
        #expect(negotiation.blockSize == 512)
    }

    @Test func transferSizeOfAnEmptyFileIsZero() throws {
        #expect(acknowledged(try negotiate([("tsize", "0")], transferSize: 0)) == ["tsize=0"])
    }

    @Test func transferSizeIsNotAcknowledgedWhenUnknown() throws {
        let negotiation = try negotiate([("tsize", "0"), ("blksize", "1024")], transferSize: nil)
        #expect(acknowledged(negotiation) == ["blksize=1024"])
        #expect(try negotiate([("tsize", "0")], transferSize: nil).acknowledged.isEmpty)
    }

    @Test func transferSizeThatIsNotANumberIsRefused() {
        #expect(refusal([("tsize", "big")]) == TFTPRefusal(.optionRefused, "option tsize 'big' is not a number"))
    }

    // MARK: windowsize (RFC 7440)

    @Test(arguments: [1, 16, 64])
    func windowSizeInRangeIsGranted(_ size: Int) throws {
        let negotiation = try negotiate([("windowsize", String(size))])
        #expect(negotiation.windowSize == size)
        #expect(acknowledged(negotiation) == ["windowsize=\(size)"])
    }

    @Test func windowSizeIsClampedToTheMaximumWindow() throws {
        let negotiation = try negotiate([("windowsize", "65535")])
        #expect(negotiation.windowSize == 64)
        #expect(acknowledged(negotiation) == ["windowsize=64"])

        var limits = TFTPLimits()
        limits.maxWindowSize = 32
        #expect(try negotiate([("windowsize", "33")], limits: limits).windowSize == 32)
    }

    @Test func windowSizeIsClampedToTheWindowBytes() throws {
        var limits = TFTPLimits()
        limits.maxWindowSize = 65535
        limits.maxWindowBytes = 1 << 20
        // 1 MiB / 65464 bytes a block = 16 blocks.
        let large = try negotiate([("blksize", "65464"), ("windowsize", "64")], limits: limits)
        #expect(large.windowSize == 16)
        #expect(acknowledged(large) == ["blksize=65464", "windowsize=16"])
        // 1 MiB / 512 = 2048 blocks, below the request.
        #expect(try negotiate([("windowsize", "65535")], limits: limits).windowSize == 2048)
        // A window is never less than one block, whatever the byte limit.
        limits.maxWindowBytes = 100
        #expect(try negotiate([("blksize", "1468"), ("windowsize", "8")], limits: limits).windowSize == 1)
    }

    @Test func windowSizeUsesTheBlockSizeEvenWhenItComesFirst() throws {
        var limits = TFTPLimits()
        limits.maxWindowBytes = 1 << 20
        let negotiation = try negotiate([("windowsize", "64"), ("blksize", "65464")], limits: limits)
        #expect(negotiation.windowSize == 16)
        #expect(acknowledged(negotiation) == ["windowsize=16", "blksize=65464"])
    }

    @Test(arguments: ["0", "65536"])
    func windowSizeOutOfRangeIsRefused(_ value: String) {
        #expect(refusal([("windowsize", value)]) == TFTPRefusal(.optionRefused, "option windowsize \(value) is out of range (1–65535)"))
    }

    // MARK: Several options

    @Test func unknownOptionsAreIgnored() throws {
        let negotiation = try negotiate([("multicast", ""), ("x-vendor", "1"), ("blksize", "1468")])
        #expect(acknowledged(negotiation) == ["blksize=1468"])
        #expect(try negotiate([("rollover", "0")]).acknowledged.isEmpty)
    }

    @Test func acknowledgedOrderFollowsTheRequest() throws {
        let negotiation = try negotiate([("tsize", "0"), ("windowsize", "16"), ("timeout", "2"), ("blksize", "1468")],
                                        transferSize: 4096)
        #expect(acknowledged(negotiation) == ["tsize=4096", "windowsize=16", "timeout=2", "blksize=1468"])
        #expect(negotiation.blockSize == 1468)
        #expect(negotiation.windowSize == 16)
        #expect(negotiation.timeoutMicroseconds == 2_000_000)
    }

    @Test func oneBadOptionRefusesTheWhole() {
        #expect(refusal([("blksize", "1468"), ("timeout", "0")])?.code == .optionRefused)
    }

    @Test func parsedRequestFeedsTheNegotiation() throws {
        let bytes: [UInt8] = [0, 1] + Array("f\0octet\0BlkSize\01024\0".utf8)
        let request = try bytes.withUnsafeBytes { try TFTPRequest(parsing: $0) }
        #expect(try negotiate(request.options).blockSize == 1024)
    }
}
