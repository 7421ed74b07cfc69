/// A config file that cannot be used, located as `FILE:LINE: what is wrong`
/// (line 0 when the file as a whole is at fault, e.g. unreadable).
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let line: Int
    public let message: String

    public init(file: String, line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}
