/// Just enough XML for a bmap file: elements, attributes, text, the five
/// predefined entities and character references; comments, the XML
/// declaration and processing instructions are skipped. No DTDs (a DOCTYPE
/// is refused, so no entity expansion bombs).
struct XMLElement: Sendable {
    var name: String
    var attributes: [String: String] = [:]
    var text = ""
    var children: [XMLElement] = []

    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        let message: String
        var description: String { "XML at byte \(offset): \(message)" }
    }

    static let maximumDepth = 32

    init(name: String) { self.name = name }

    init(parsing bytes: [UInt8]) throws(ParseError) {
        var reader = XMLReader(bytes: bytes)
        try reader.skipProlog()
        guard reader.index < bytes.count, bytes[reader.index] == UInt8(ascii: "<") else {
            throw reader.error("expected the root element")
        }
        self = try reader.parseElement(depth: 1)
        try reader.skipMisc()
        guard reader.index == bytes.count else { throw reader.error("content after the root element") }
    }
}

private struct XMLReader {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String) -> XMLElement.ParseError { XMLElement.ParseError(offset: index, message: message) }

    func starts(with text: String) -> Bool {
        let pattern = Array(text.utf8)
        return bytes.count - index >= pattern.count && bytes[index..<index + pattern.count].elementsEqual(pattern)
    }

    mutating func skip(past terminator: String, what: String) throws(XMLElement.ParseError) {
        let pattern = Array(terminator.utf8)
        guard let found = bytes[index...].firstRange(of: pattern) else { throw error("unterminated \(what)") }
        index = found.upperBound
    }

    mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    mutating func skipMisc() throws(XMLElement.ParseError) {
        while true {
            skipWhitespace()
            if starts(with: "<!--") { try skip(past: "-->", what: "comment") }
            else if starts(with: "<?") { try skip(past: "?>", what: "processing instruction") }
            else { return }
        }
    }

    mutating func skipProlog() throws(XMLElement.ParseError) {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        try skipMisc()
        if starts(with: "<!") { throw error("DOCTYPE and other declarations are not accepted") }
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }

    mutating func parseName() throws(XMLElement.ParseError) -> String {
        let start = index
        while index < bytes.count, Self.isNameByte(bytes[index]) { index += 1 }
        guard index > start, index - start <= 256 else { throw error("expected a name") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func parseElement(depth: Int) throws(XMLElement.ParseError) -> XMLElement {
        guard depth <= XMLElement.maximumDepth else { throw error("elements nested deeper than \(XMLElement.maximumDepth)") }
        index += 1  // <
        var element = XMLElement(name: try parseName())
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw error("unterminated <\(element.name)>") }
            if starts(with: "/>") { index += 2; return element }
            if bytes[index] == UInt8(ascii: ">") { index += 1; break }
            let attribute = try parseName()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw error("expected '=' after \(attribute)") }
            index += 1
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else {
                throw error("an attribute value must be quoted")
            }
            let quote = bytes[index]
            index += 1
            guard let end = bytes[index...].firstIndex(of: quote) else { throw error("unterminated attribute value") }
            let value = try decodeText(bytes[index..<end])
            index = end + 1
            guard element.attributes.updateValue(value, forKey: attribute) == nil else {
                throw error("attribute \(attribute) repeated")
            }
        }
        while true {
            guard index < bytes.count else { throw error("<\(element.name)> is not closed") }
            if starts(with: "</") {
                index += 2
                let name = try parseName()
                guard name == element.name else { throw error("</\(name)> closes <\(element.name)>") }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { throw error("expected '>'") }
                index += 1
                return element
            }
            if starts(with: "<!--") { try skip(past: "-->", what: "comment"); continue }
            if starts(with: "<?") { try skip(past: "?>", what: "processing instruction"); continue }
            if starts(with: "<!") { throw error("CDATA and declarations are not accepted") }
            if bytes[index] == UInt8(ascii: "<") {
                element.children.append(try parseElement(depth: depth + 1))
                continue
            }
            let end = bytes[index...].firstIndex(of: UInt8(ascii: "<")) ?? bytes.count
            element.text += try decodeText(bytes[index..<end])
            index = end
        }
    }

    func decodeText(_ slice: ArraySlice<UInt8>) throws(XMLElement.ParseError) -> String {
        guard slice.contains(UInt8(ascii: "&")) else {
            guard let text = String(validating: slice, as: UTF8.self) else { throw error("text is not valid UTF-8") }
            return text
        }
        var output = [UInt8]()
        var position = slice.startIndex
        while position < slice.endIndex {
            let byte = slice[position]
            guard byte == UInt8(ascii: "&") else { output.append(byte); position += 1; continue }
            guard let semicolon = slice[position...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw error("a '&' that starts no entity")
            }
            let entity = String(decoding: slice[(position + 1)..<semicolon], as: UTF8.self)
            switch entity {
            case "amp": output.append(UInt8(ascii: "&"))
            case "lt": output.append(UInt8(ascii: "<"))
            case "gt": output.append(UInt8(ascii: ">"))
            case "quot": output.append(UInt8(ascii: "\""))
            case "apos": output.append(UInt8(ascii: "'"))
            default:
                var value: UInt32?
                if entity.hasPrefix("#x") { value = UInt32(entity.dropFirst(2), radix: 16) }
                else if entity.hasPrefix("#") { value = UInt32(entity.dropFirst(), radix: 10) }
                guard let value, let scalar = Unicode.Scalar(value), value != 0 else {
                    throw error("unknown entity &\(entity.prefix(12));")
                }
                output.append(contentsOf: Array(String(Character(scalar)).utf8))
            }
            position = semicolon + 1
        }
        guard let text = String(validating: output, as: UTF8.self) else { throw error("text is not valid UTF-8") }
        return text
    }
}
