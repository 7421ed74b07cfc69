import ShellSupport
import SystemSupport
import Wire

extension AgentShell {
    /// `watch` (coordinator keys only): one line saying this agent runs and
    /// since when, then nothing until the agent stops (the session is cut,
    /// exit 1) or the coordinator hangs up. The coordinator keeps it open:
    /// its first line is how it learns at once that a restarted agent is
    /// back (its boards locked until it hears who holds them), its end that
    /// the agent went.
    /// With `--events-since ID`, the agent's events after ID follow the
    /// first line, one JSON object a line, then each as it comes: the
    /// coordinator merges them into its own (`events`).
    func watchCommand(_ command: WatchCommand, _ session: ShellSession) throws(ShellError) {
        guard session.identity.coordinator != nil else {
            throw .notAllowed("watch: only the coordinator watches the agent")
        }
        session.print("\(agentName): running since \(isoTime(startedAt)), \(boards.count) boards\n")
        guard let since = command.eventsSince, let events else {
            while case .bytes = session.read(timeout: nil) {}
            return
        }
        // Asked for more than this log holds: its ids began anew (a wiped
        // data_dir). All of it, then: the coordinator sees the ids go back.
        var after = since > events.lastID ? 0 : since
        while !session.streams.isClosed && session.cutMessage == nil {
            let batch = events.events(after: after, limit: 1000)
            for event in batch { session.print(Wire.line(event) + "\n") }
            if let last = batch.last { after = last.id }
            if batch.count == 1000 { continue }
            if case .end = session.read(timeout: 0.01), session.streams.isClosed { return }
            events.waitForMore(after: after, timeout: 0.5)
        }
    }
}
