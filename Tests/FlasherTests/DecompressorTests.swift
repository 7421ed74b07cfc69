import Foundation
@testable import FlasherCore
import Testing

@Suite struct DecompressorTests {
    /// Feeds `input` in pieces of `piece` bytes into a decoder with a small
    /// output buffer; returns the output.
    func decode(_ input: [UInt8], as format: Compression, piece: Int = 7919, outputSize: Int = 65536) throws(FlasherError) -> [UInt8] {
        let decompressor = try format.makeDecompressor()
        var output: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: outputSize, alignment: 16)
        defer { buffer.deallocate() }
        var sink = OutputSink(first: buffer) { (count: Int, _: Int64) throws(FlasherError) -> UnsafeMutableRawBufferPointer in
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            return buffer
        }
        var offset = 0
        while offset < input.count {
            let end = min(offset + piece, input.count)
            let result = input.withUnsafeBytes { raw in
                Result { () throws(FlasherError) in try decompressor.decompress(UnsafeRawBufferPointer(rebasing: raw[offset..<end]), into: &sink) }
            }
            try result.get()
            offset = end
        }
        try decompressor.finish(into: &sink)
        return output
    }

    func compressed(_ data: Data, with tool: String, _ arguments: [String]) throws -> [UInt8] {
        let folder = try TemporaryFolder()
        try data.write(to: URL(fileURLWithPath: folder.path("in")))
        try #require(try runTool(tool, arguments + ["-c", folder.path("in")], output: folder.path("out")) == 0)
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path("out"))))
    }

    static let tools: [(Compression, String, [String])] = [
        (.gzip, "/usr/bin/gzip", ["-6"]), (.xz, "/usr/bin/xz", ["-1"]), (.zstd, "/usr/bin/zstd", ["-q", "-3"]),
    ]

    func sample() -> Data {
        var generator = SplitMix(seed: 7)
        var data = Data(count: 3 << 20)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in 0..<(1 << 17) { words[index] = generator.next() }       // 1 MiB random
            for index in (2 << 17)..<(3 << 17) { words[index] = UInt64(index % 97) }  // 1 MiB patterned
        }
        return data
    }

    @Test(arguments: tools)
    func decodesWhatTheToolWrites(_ format: Compression, _ tool: String, _ arguments: [String]) throws {
        let data = sample()
        let packed = try compressed(data, with: tool, arguments)
        #expect(Compression.detect(packed) == format)
        #expect(try decode(packed, as: format) == [UInt8](data))
        #expect(try decode(packed, as: format, piece: 1 << 20, outputSize: 4 << 20) == [UInt8](data))
    }

    @Test(arguments: tools)
    func concatenatedStreamsDecodeAsOne(_ format: Compression, _ tool: String, _ arguments: [String]) throws {
        let first = Data("first part\n".utf8), second = Data(repeating: 0, count: 100_000)
        let packed = try compressed(first, with: tool, arguments) + compressed(second, with: tool, arguments)
        #expect(try decode(packed, as: format) == [UInt8](first + second))
    }

    @Test(arguments: tools)
    func truncatedStreamIsAnError(_ format: Compression, _ tool: String, _ arguments: [String]) throws {
        let packed = try compressed(sample(), with: tool, arguments)
        for cut in [packed.count / 2, packed.count - 1] {
            do throws(FlasherError) {
                _ = try decode(Array(packed[..<cut]), as: format)
                Issue.record("\(format) cut at \(cut) of \(packed.count) decoded without error")
            } catch {
                #expect(error.phase == .decompress)
            }
        }
    }

    @Test(arguments: tools)
    func corruptStreamIsAnError(_ format: Compression, _ tool: String, _ arguments: [String]) throws {
        var packed = try compressed(sample(), with: tool, arguments)
        for index in stride(from: 40, to: min(packed.count, 4000), by: 13) { packed[index] ^= 0x5A }
        #expect(throws: FlasherError.self) { try decode(packed, as: format) }
    }

    /// The buffers a sink with `holes` hands on, each with its image offset,
    /// and the image's length.
    func decodeSkipping(_ holes: [Range<Int64>], _ input: [UInt8], as format: Compression,
                        outputSize: Int = 65536) throws(FlasherError) -> (pieces: [(offset: Int64, bytes: [UInt8])], total: Int64) {
        let decompressor = try format.makeDecompressor()
        var pieces: [(offset: Int64, bytes: [UInt8])] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: outputSize, alignment: 16)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate(); scratch.deallocate() }
        var sink = OutputSink(first: buffer, holes: holes, scratch: scratch) { (count: Int, offset: Int64) throws(FlasherError) in
            pieces.append((offset, [UInt8](buffer[..<count])))
            return buffer
        }
        var offset = 0
        while offset < input.count {
            let end = min(offset + 7919, input.count)
            let result = input.withUnsafeBytes { raw in
                Result { () throws(FlasherError) in try decompressor.decompress(UnsafeRawBufferPointer(rebasing: raw[offset..<end]), into: &sink) }
            }
            try result.get()
            offset = end
        }
        try decompressor.finish(into: &sink)
        return (pieces, sink.total)
    }

    /// A bmap's holes are decoded but never handed on: every buffer that is
    /// holds the image's bytes at its offset, no buffer reaches into a hole,
    /// and buffers and holes together cover the whole image.
    @Test(arguments: [(Compression.none, "", [String]())] + tools)
    func holesAreSkippedAndEverythingElseKeepsItsOffset(_ format: Compression, _ tool: String, _ arguments: [String]) throws {
        let data = [UInt8](sample())
        let input = format == .none ? data : try compressed(Data(data), with: tool, arguments)
        let size = Int64(data.count)
        let holeSets: [[Range<Int64>]] = [
            [],
            [0..<5000, 100_000..<1_300_000, 2_000_000..<2_000_001, (size - 70_000)..<size],
            [65_536..<131_072, 131_073..<(3 << 19)],
        ]
        for holes in holeSets {
            let (pieces, total) = try decodeSkipping(holes, input, as: format)
            #expect(total == size)
            var covered = holes.reduce(Int64(0)) { $0 + Int64($1.count) }
            var previousEnd: Int64 = 0
            for piece in pieces {
                let range = piece.offset..<(piece.offset + Int64(piece.bytes.count))
                #expect(!piece.bytes.isEmpty)
                #expect(piece.offset >= previousEnd, "buffers come in order and apart")
                #expect(!holes.contains { $0.overlaps(range) }, "\(range) reaches into a hole of \(holes)")
                #expect(piece.bytes == Array(data[Int(range.lowerBound)..<Int(range.upperBound)]), "the bytes at \(range)")
                covered += Int64(piece.bytes.count)
                previousEnd = range.upperBound
            }
            #expect(covered == size, "buffers and holes cover the image once (\(format), holes \(holes))")
        }
    }

    @Test func detectsNothingInRawData() {
        #expect(Compression.detect([0, 0, 0, 0, 0, 0]) == .none)
        #expect(Compression.detect([0x1F]) == .none)
        #expect(Compression.detect([]) == .none)
    }

    /// A stream whose header asks for more memory than the flasher gives a
    /// decoder (fuzz-decompress found a 47-byte zstd frame that made the
    /// decoder ask for 2 GiB: on a board, PID 1 dies) is refused with a reason.
    @Test func aStreamThatWantsGigabytesOfMemoryIsRefused() throws {
        let frame = Array(Data(fromHex: "28b52ffd04a8f2fefbc870726f766973696f556e7320666c6173686572207365656420010031e76a8e01a9e3a0de"))
        let big = try compressed(Data("a board farm".utf8), with: "/usr/bin/xz", ["--lzma2=dict=1GiB"])
        for (input, format, reason) in [(frame, Compression.zstd, "needs a window over 256 MiB"),
                                        (big, .xz, "MiB to decompress, more than the flasher's 256 MiB")] {
            do throws(FlasherError) {
                _ = try decode(input, as: format)
                Issue.record("\(format) decoded")
            } catch {
                #expect(error.what.contains(reason), "\(error.what)")
            }
        }
        // Every xz preset still decodes: -9 needs 65 MiB.
        let nine = try compressed(Data("a board farm".utf8), with: "/usr/bin/xz", ["-9"])
        #expect(try decode(nine, as: .xz) == Array("a board farm".utf8))
    }
}

private extension Data {
    init(fromHex text: String) {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        self.init(bytes)
    }
}
