import Foundation
import Testing
import TFTP
import ProvisionerTesting

/// Reads `source` to its end with buffers of the given sizes in turn,
/// checking the contract: every read but the last fills its buffer, and a
/// read after the end returns 0.
private func readAll<Source: TFTPSource>(_ source: inout Source, buffers: [Int]) throws -> [UInt8] {
    var out: [UInt8] = []
    var turn = 0
    while true {
        let size = buffers[turn % buffers.count]
        turn += 1
        var chunk = [UInt8](repeating: 0xa5, count: size)
        let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
        #expect(n >= 0 && n <= size)
        out += chunk[..<n]
        if n < size { break }
    }
    var after = [UInt8](repeating: 0, count: 16)
    #expect(try after.withUnsafeMutableBytes { try source.read(into: $0) } == 0, "a read after the end returns 0")
    return out
}

/// netascii as RFC 764 defines it: LF → CR LF, CR → CR NUL.
private func netascii(_ bytes: [UInt8]) -> [UInt8] {
    bytes.flatMap { byte -> [UInt8] in
        switch byte {
        case 0x0a: [0x0d, 0x0a]
        case 0x0d: [0x0d, 0x00]
        default: [byte]
        }
    }
}

/// Writes `bytes` to a file in a fresh folder and opens it as a transfer would.
private func withOpenFile<T>(_ bytes: [UInt8], _ body: (TFTPOpenFile) throws -> T) throws -> T {
    try withTemporaryDirectory { folder in
        try writeFile(folder + "/data", bytes)
        let directory = try TFTPDirectory(root: folder)
        let file = try TFTPDirectory.openRegularFile("data", under: directory.root)
        #expect(file.size == bytes.count)
        return try body(file)
    }
}

/// Text with many line ends, lone CRs and CR LF pairs at every offset.
private func lineEndText(count: Int) -> [UInt8] {
    patternBytes(count: count, seed: 7).map { byte in
        switch byte % 8 {
        case 0: 0x0a
        case 1: 0x0d
        default: 0x61 + byte % 26
        }
    }
}

@Suite("FileSource and NetasciiSource")
struct TFTPSourceTests {
    static let sizes = [0, 1, 511, 512, 513, (256 << 10) + 3, 1 << 20]
    /// Odd sizes, and some larger than FileSource's buffer (read directly).
    static let buffers = [1, 7, 511, 513, 4096, 65541, 300_000]

    @Test(arguments: sizes)
    func fileSourceReproducesTheFile(size: Int) throws {
        let bytes = patternBytes(count: size, seed: UInt32(size) + 1)
        try withOpenFile(bytes) { file throws in
            var source = FileSource(file)
            defer { source.release() }
            let read = try readAll(&source, buffers: Self.buffers)
            #expect(read.count == bytes.count)
            #expect(read == bytes)
        }
    }

    @Test(arguments: sizes)
    func fileSourceWithASmallBufferReproducesTheFile(size: Int) throws {
        let bytes = patternBytes(count: size, seed: UInt32(size) + 2)
        try withOpenFile(bytes) { file throws in
            var source = FileSource(file, bufferSize: 1000)
            defer { source.release() }
            #expect(try readAll(&source, buffers: [999, 1000, 1001, 3, 2500]) == bytes)
        }
    }

    @Test(arguments: [512, 1468, 65464])
    func fileSourceInWholeBlocks(blockSize: Int) throws {
        let bytes = patternBytes(count: 3 * blockSize, seed: 3)
        try withOpenFile(bytes) { file throws in
            var source = FileSource(file)
            defer { source.release() }
            // A file of whole blocks ends with an empty block.
            var block = [UInt8](repeating: 0, count: blockSize)
            var counts: [Int] = []
            for _ in 0..<4 { counts.append(try block.withUnsafeMutableBytes { try source.read(into: $0) }) }
            #expect(counts == [blockSize, blockSize, blockSize, 0])
        }
    }

    @Test(arguments: [1, 2, 3, 512])
    func netasciiConvertsLineEnds(bufferSize: Int) throws {
        let text = Array("one\ntwo\rthree\r\n\n".utf8)
        let expected = Array("one\r\ntwo\r\0three\r\0\r\n\r\n".utf8)
        #expect(netascii(text) == expected)
        try withOpenFile(text) { file throws in
            let base = FileSource(file)
            defer { base.release() }
            var source = NetasciiSource(base)
            #expect(try readAll(&source, buffers: [bufferSize]) == expected)
            #expect(try file.netasciiSize() == expected.count)
        }
    }

    @Test func netasciiPairStraddlesTheBufferEnd() throws {
        // With 3-byte reads the CR of "ab\n" ends the first read and its LF
        // starts the second; with "x\r" the NUL does.
        let text = Array("ab\nx\r".utf8)
        try withOpenFile(text) { file throws in
            let base = FileSource(file)
            defer { base.release() }
            var source = NetasciiSource(base)
            var chunk = [UInt8](repeating: 0xff, count: 3)
            var reads: [[UInt8]] = []
            for _ in 0..<3 {
                let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
                reads.append(Array(chunk[..<n]))
            }
            #expect(reads == [[0x61, 0x62, 0x0d], [0x0a, 0x78, 0x0d], [0x00]])
        }
    }

    @Test func netasciiOfALoneCarriageReturn() throws {
        try withOpenFile([0x0d]) { file throws in
            let base = FileSource(file)
            defer { base.release() }
            var source = NetasciiSource(base)
            #expect(try readAll(&source, buffers: [1]) == [0x0d, 0x00])
            #expect(try file.netasciiSize() == 2)
        }
    }

    @Test func netasciiOfAnEmptyFile() throws {
        try withOpenFile([]) { file throws in
            let base = FileSource(file)
            defer { base.release() }
            var source = NetasciiSource(base)
            #expect(try readAll(&source, buffers: [512]).isEmpty)
            #expect(try file.netasciiSize() == 0)
        }
    }

    @Test(arguments: [[1], [3], [512], [1468, 1, 65464, 7]])
    func netasciiOfALargeFileMatchesItsSize(buffers: [Int]) throws {
        // Larger than NetasciiSource's 64 KiB buffer and FileSource's 256 KiB.
        let text = lineEndText(count: (300 << 10) + 11)
        let expected = netascii(text)
        try withOpenFile(text) { file throws in
            let base = FileSource(file, bufferSize: 4096)
            defer { base.release() }
            var source = NetasciiSource(base)
            let read = try readAll(&source, buffers: buffers)
            #expect(read.count == expected.count)
            #expect(read == expected)
            #expect(try file.netasciiSize() == expected.count)
        }
    }

    @Test func netasciiSizeCountsEveryLineEnd() throws {
        let text = lineEndText(count: (1 << 20) + 5)  // more than netasciiSize's 1 MiB chunk
        let lineEnds = text.filter { $0 == 0x0a || $0 == 0x0d }.count
        #expect(lineEnds > 200_000)
        try withOpenFile(text) { file throws in
            #expect(try file.netasciiSize() == text.count + lineEnds)
        }
        #expect(NetasciiSource<FileSource>.convertedSize(count: 10, lineFeeds: 2, carriageReturns: 3) == 15)
    }
}
