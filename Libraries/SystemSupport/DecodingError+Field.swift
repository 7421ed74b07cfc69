/// The parts of a `DecodingError` one error line needs: which field of an
/// answer from outside (Google, QEMU, a key file) is wrong, and how. Never a
/// value: the field could hold a secret.
extension DecodingError {
    /// "items[2].start.dateTime is not a string": the field at fault and
    /// what is wrong with it. Nil when the value itself is wrong (not JSON,
    /// a number JSON cannot hold, or not the object expected): the caller
    /// says that in its own words.
    public var fieldProblem: String? {
        let path = fieldPath
        return path.isEmpty ? nil : "\(path) \(problem)"
    }

    /// The field at fault, as a path; empty for the value itself.
    private var fieldPath: String {
        var keys = context.codingPath
        if case .keyNotFound(let key, _) = self { keys.append(key) }
        var path = ""
        for key in keys {
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += (path.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return path
    }

    /// What is wrong with the field: "is not a string", "is missing",
    /// "is null", or the decoder's own words.
    private var problem: String {
        switch self {
        case .typeMismatch(let type, _): "is not \(Self.kind(type))"
        case .keyNotFound: "is missing"
        case .valueNotFound: "is null"
        case .dataCorrupted(let context): context.debugDescription
        @unknown default: "\(self)"
        }
    }

    private var context: Context {
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
             .dataCorrupted(let context):
            context
        @unknown default:
            Context(codingPath: [], debugDescription: "")
        }
    }

    /// A Swift type as the JSON it is read from.
    private static func kind(_ type: Any.Type) -> String {
        let name = "\(type)"
        if name.hasPrefix("Dictionary") { return "an object" }
        if name.hasPrefix("Array") { return "an array" }
        switch name {
        case "String": return "a string"
        case "Bool": return "true or false"
        case "Double", "Float", "Int", "Int64", "Int32", "UInt", "UInt64", "UInt32": return "a number"
        default: return name
        }
    }
}
