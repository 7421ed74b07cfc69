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
        var sink = OutputSink(first: buffer) { (count: Int) throws(FlasherError) -> UnsafeMutableRawBufferPointer in
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

    @Test func detectsNothingInRawData() {
        #expect(Compression.detect([0, 0, 0, 0, 0, 0]) == .none)
        #expect(Compression.detect([0x1F]) == .none)
        #expect(Compression.detect([]) == .none)
    }
}
