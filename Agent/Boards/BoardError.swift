/// A board service could not do what was asked: one line for the user.
public struct BoardError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
