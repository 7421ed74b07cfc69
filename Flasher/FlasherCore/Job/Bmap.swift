/// A block map in bmaptool's XML format (version 2.x, SHA-256 checksums):
/// which blocks of the image hold data, and the SHA-256 of each mapped range.
/// The flasher writes only those ranges, checks each one's checksum as it
/// streams, and reads only them back.
///
///     <bmap version="2.0">
///         <ImageSize> 1073741824 </ImageSize>
///         <BlockSize> 4096 </BlockSize>
///         <BlocksCount> 262144 </BlocksCount>
///         <MappedBlocksCount> 78644 </MappedBlocksCount>
///         <ChecksumType> sha256 </ChecksumType>
///         <BmapFileChecksum> … </BmapFileChecksum>
///         <BlockMap>
///             <Range chksum="…"> 0-1023 </Range>
///             <Range chksum="…"> 4096 </Range>
///         </BlockMap>
///     </bmap>
public struct Bmap: Equatable, Sendable {
    public struct Range: Equatable, Sendable {
        public var firstBlock: Int64
        public var lastBlock: Int64
        public var sha256: String
    }

    public var imageSize: Int64
    public var blockSize: Int64
    public var blocksCount: Int64
    public var ranges: [Range]

    /// A bmap file larger than this is refused.
    public static let maximumSize = 64 << 20

    public var mappedBlocksCount: Int64 { ranges.reduce(0) { $0 + $1.lastBlock - $1.firstBlock + 1 } }

    /// The byte range a block range covers, cut at the image's end.
    public func byteRange(of range: Range) -> (offset: Int64, length: Int64) {
        let offset = range.firstBlock * blockSize
        let end = min((range.lastBlock + 1) * blockSize, imageSize)
        return (offset, end - offset)
    }

    public init(imageSize: Int64, blockSize: Int64, blocksCount: Int64, ranges: [Range]) {
        self.imageSize = imageSize
        self.blockSize = blockSize
        self.blocksCount = blocksCount
        self.ranges = ranges
    }

    public init(parsing bytes: [UInt8]) throws(FlasherError) {
        func refuse(_ why: String) -> FlasherError { FlasherError(.manifest, "bmap: \(why)") }
        guard bytes.count <= Self.maximumSize else { throw refuse("larger than \(Self.maximumSize >> 20) MiB") }
        let root: XMLElement
        do {
            root = try XMLElement(parsing: bytes)
        } catch {
            throw refuse(error.description)
        }
        guard root.name == "bmap" else { throw refuse("the root element is <\(root.name.prefix(40))>, not <bmap>") }
        guard let version = root.attributes["version"] else { throw refuse("<bmap> has no version") }
        guard version.hasPrefix("2.") else {
            throw refuse("version \(version.prefix(20)) is not supported (bmaptool 3.x writes 2.0 with SHA-256)")
        }
        func number(_ name: String) throws(FlasherError) -> Int64 {
            let found = root.children.filter { $0.name == name }
            guard found.count == 1 else {
                throw refuse(found.isEmpty ? "no <\(name)>" : "<\(name)> appears \(found.count) times")
            }
            let text = found[0].text.trimmed
            guard let value = Int64(text), value >= 0 else { throw refuse("<\(name)> '\(text.prefix(40))' is not a number") }
            return value
        }
        imageSize = try number("ImageSize")
        blockSize = try number("BlockSize")
        blocksCount = try number("BlocksCount")
        let declaredMapped = try number("MappedBlocksCount")
        guard blockSize >= 512, blockSize <= 1 << 24, blockSize & (blockSize - 1) == 0 else {
            throw refuse("BlockSize \(blockSize) is not a power of two from 512 to 16 MiB")
        }
        guard imageSize <= Int64(1) << 50 else { throw refuse("ImageSize \(imageSize) is beyond 1 PiB") }
        guard blocksCount == (imageSize + blockSize - 1) / blockSize else {
            throw refuse("BlocksCount \(blocksCount) does not match ImageSize \(imageSize) / BlockSize \(blockSize)")
        }
        let checksumType = root.children.first { $0.name == "ChecksumType" }?.text.trimmed
        guard checksumType == "sha256" else {
            throw refuse("ChecksumType '\(checksumType?.prefix(20) ?? "none")' is not supported (only sha256)")
        }
        let maps = root.children.filter { $0.name == "BlockMap" }
        guard maps.count == 1 else { throw refuse(maps.isEmpty ? "no <BlockMap>" : "more than one <BlockMap>") }
        var ranges: [Range] = []
        var nextFree: Int64 = 0
        for element in maps[0].children {
            guard element.name == "Range" else { throw refuse("unexpected <\(element.name.prefix(40))> in <BlockMap>") }
            let text = element.text.trimmed
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 1 || parts.count == 2,
                  let first = Int64(parts[0].trimmed), let last = Int64(parts[parts.count - 1].trimmed),
                  first >= 0, last >= first else {
                throw refuse("Range '\(text.prefix(40))' is not FIRST-LAST block numbers")
            }
            guard first >= nextFree else { throw refuse("Range \(text) overlaps or is not after the one before it") }
            guard last < blocksCount else { throw refuse("Range \(text) goes beyond BlocksCount \(blocksCount)") }
            guard let checksum = element.attributes["chksum"] else { throw refuse("Range \(text) has no chksum") }
            let sha256: String
            do {
                sha256 = try parseSHA256(checksum, what: "Range \(text) chksum")
            } catch {
                throw refuse(error.what)
            }
            ranges.append(Range(firstBlock: first, lastBlock: last, sha256: sha256))
            nextFree = last + 1
        }
        self.ranges = ranges
        guard mappedBlocksCount == declaredMapped else {
            throw refuse("MappedBlocksCount \(declaredMapped) but the ranges map \(mappedBlocksCount) blocks")
        }
        if let declared = root.children.first(where: { $0.name == "BmapFileChecksum" })?.text.trimmed {
            try Self.checkFileChecksum(bytes, declared: declared, refuse)
        }
    }

    /// bmaptool's own check: the SHA-256 of the file with the checksum's
    /// 64 digits replaced by zeros.
    private static func checkFileChecksum(_ bytes: [UInt8], declared: String,
                                          _ refuse: (String) -> FlasherError) throws(FlasherError) {
        let digits = Array(declared.utf8)
        guard digits.count == 64 else { throw refuse("BmapFileChecksum is not 64 hex digits") }
        var copy = bytes
        guard let start = copy.firstRange(of: digits)?.lowerBound else { throw refuse("BmapFileChecksum not found") }
        for index in start..<(start + 64) { copy[index] = UInt8(ascii: "0") }
        let actual = SHA256.hex(of: copy)
        guard actual == declared.lowercased() else {
            throw refuse("the file's checksum is \(actual), BmapFileChecksum says \(declared): the bmap is damaged")
        }
    }
}

extension StringProtocol {
    var trimmed: String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\n" || first == "\t" || first == "\r" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\n" || last == "\t" || last == "\r" { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
