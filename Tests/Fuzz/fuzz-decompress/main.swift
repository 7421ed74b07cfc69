import FlasherCore
import FuzzSupport

/// The three decompressors' front ends on a hostile download: the first
/// byte picks gzip, xz or zstd, the rest is fed in two pieces, then the end.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.bytes(size)
    guard let first = bytes.first else { return 0 }
    let kinds: [Compression] = [.gzip, .xz, .zstd]
    let kind = kinds[Int(first) % kinds.count]
    let input = Array(bytes.dropFirst())
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    defer { output.deallocate() }
    var produced: Int64 = 0
    var sink = OutputSink(first: output) { (count: Int, _: Int64) throws(FlasherError) -> UnsafeMutableRawBufferPointer in
        produced += Int64(count)
        // A decompression bomb stops here, as the target's size would stop it.
        guard produced < 64 << 20 else { throw FlasherError(.decompress, "fuzz: more than 64 MiB out") }
        return output
    }
    do {
        let decompressor = try kind.makeDecompressor(otherwiseChecked: first & 0x80 != 0)
        let middle = input.count / 2
        try input[..<middle].withUnsafeBytes { try decompressor.decompress($0, into: &sink) }
        try input[middle...].withUnsafeBytes { try decompressor.decompress($0, into: &sink) }
        try decompressor.finish(into: &sink)
    } catch {}
    return 0
}

FuzzMain.run(testOneInput)
