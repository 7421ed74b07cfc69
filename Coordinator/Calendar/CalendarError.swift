/// A calendar operation that failed: one line for the log or the user.
/// Messages never carry a key, a token or an assertion.
public struct CalendarError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The HTTP status Google answered, when it answered.
    public let status: Int?

    public init(_ description: String, status: Int? = nil) {
        self.description = description
        self.status = status
    }

    /// 410 Gone on a list with a sync token: a full sync is needed.
    var isGone: Bool { status == 410 }
    /// 404 or 410 on one event: it no longer exists.
    var isMissing: Bool { status == 404 || status == 410 }
}
