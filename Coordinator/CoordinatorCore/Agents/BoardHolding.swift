import CoordinatorCalendar
import Reservations
import SystemSupport

/// What an agent is to be told of one of its boards (`hold`): free is not
/// locked (DESIGN.md). The coordinator locks a board whose calendar it
/// cannot read (past the grace), whose holder is not a user of the lab (a
/// calendar event booked by someone not in `users`), or whose store failed:
/// nobody may use it then, rather than anybody.
public enum BoardHolding: Sendable, Equatable {
    case free
    case held(AgentMonitor.Holding)
    case locked(String)

    /// The holding of `board` now: its current reservation in `store`,
    /// unless `calendar` or `users` lock it.
    public static func of(_ board: String, store: ReservationStore, calendar: CalendarSync?, users: Set<String>?,
                          at now: Int64 = Int64(wallClock())) -> BoardHolding {
        let current: Reservation?
        do { current = try store.current(board: board, at: now) } catch {
            return .locked("the coordinator's reservation store failed: \(error)")
        }
        if let reason = lockReason(board, holder: current, calendar: calendar, users: users) { return .locked(reason) }
        return current.map { .held(AgentMonitor.Holding(user: $0.user, until: $0.end, guests: $0.guests)) } ?? .free
    }

    /// Why nobody may use `board` held by `holder` (nil: nobody), or nil.
    static func lockReason(_ board: String, holder: Reservation?, calendar: CalendarSync?, users: Set<String>?) -> String? {
        if let problem = calendar?.accessProblem(board: board) { return problem }
        if let holder, let users, !users.contains(holder.user) {
            return "reserved by \(holder.user), who is not a user of this lab, until \(isoTime(Double(holder.end)))"
        }
        return nil
    }
}
