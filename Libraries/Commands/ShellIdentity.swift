/// Who acts in one request (DESIGN.md "Who acts").
public struct ShellIdentity: Sendable, Equatable {
    /// The acting user, [a-z0-9._-]: per-user spaces and logs use it.
    public let user: String
    /// Set when a coordinator named the user; its key's name.
    public let coordinator: String?
    /// A lab admin (the coordinator's `users[].admin`): may `--force`
    /// and read the audit log.
    public let admin: Bool

    public init(user: String, coordinator: String? = nil, admin: Bool = false) {
        self.user = user
        self.coordinator = coordinator
        self.admin = admin
    }
}
