/// A request the artifact server refuses: the HTTP status and one line
/// saying why (sent as the body and logged). A refusal changes nothing on disk.
public struct ArtifactRefusal: Error, Equatable, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(message)" }

    static func badRequest(_ message: String) -> ArtifactRefusal { ArtifactRefusal(400, message) }
    static func forbidden(_ message: String) -> ArtifactRefusal { ArtifactRefusal(403, message) }
    static func notFound(_ message: String) -> ArtifactRefusal { ArtifactRefusal(404, message) }
}
