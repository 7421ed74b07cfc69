import Commands
import ShellSupport

extension ShellIdentity {
    /// The environment variable a coordinator sets (`SetEnv` /
    /// `ssh_channel_request_env`) to name the acting user.
    public static let userVariable = "PROVISIONER_USER"

    /// Resolves the acting user of a request and strips a leading
    /// `--as USER` from its words. A coordinator names the user with
    /// `--as USER` or `PROVISIONER_USER` (`--as` wins); without either it
    /// acts as itself. A person's key acts as its own name; it may not name
    /// anyone else (exit 3).
    public static func resolve(role: AgentKeyring.Role, environment: [String: String],
                               words: [String]) throws(ShellError) -> (ShellIdentity, [String]) {
        var words = words
        var named: String?
        if words.first == "--as" {
            guard words.count >= 2 else { throw .usage("--as needs a user name") }
            named = words[1]
            words.removeFirst(2)
        } else if let variable = environment[userVariable], !variable.isEmpty {
            named = variable
        }
        switch role {
        case .coordinator(let name):
            guard let named else { return (ShellIdentity(user: name, coordinator: name), words) }
            guard AgentKeyring.isValidUserName(named) else {
                throw .usage("'\(named)' is not a valid user name ([a-z0-9._-], 64 at most)")
            }
            return (ShellIdentity(user: named, coordinator: name), words)
        case .person(let user):
            if let named, named != user {
                throw .notAllowed("only a coordinator's key may act for another user (this key is \(user))")
            }
            return (ShellIdentity(user: user), words)
        }
    }
}
