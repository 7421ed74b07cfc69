import ShellSupport
import SystemSupport

extension AgentShell {
    /// `watch` (coordinator keys only): one line saying this agent runs and
    /// since when, then nothing until the agent stops (the session is cut,
    /// exit 1) or the coordinator hangs up. The coordinator keeps it open:
    /// its first line is how it learns at once that a restarted agent is
    /// back (its boards locked until it hears who holds them), its end that
    /// the agent went.
    func watchCommand(_ session: ShellSession) throws(ShellError) {
        guard session.identity.coordinator != nil else {
            throw .notAllowed("watch: only the coordinator watches the agent")
        }
        session.print("\(agentName): running since \(isoTime(startedAt)), \(boards.count) boards\n")
        while case .bytes = session.read(timeout: nil) {}
    }
}
