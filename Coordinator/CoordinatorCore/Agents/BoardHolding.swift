import CoordinatorCalendar
import Reservations
import Synchronization
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
    ///
    /// While the store cannot be reached, a reservation it confirmed before
    /// (kept in `confirmed`) holds until its end: its holder's console and
    /// commands carry on, and nothing new is granted; any other board is locked.
    public static func of(_ board: String, store: ReservationStore, calendar: CalendarSync?, users: Set<String>?,
                          confirmed: ConfirmedHolders? = nil, at now: Int64 = Int64(wallClock())) -> BoardHolding {
        let current: Reservation?
        do {
            current = try store.current(board: board, at: now)
            confirmed?.note(board, current)
        } catch let error as StoreError where error.kind == .unavailable {
            guard let last = confirmed?.last(board), last.isCurrent(at: now) else {
                return .locked(reason("the coordinator's reservation store failed: \(error)"))
            }
            current = last
        } catch {
            return .locked(reason("the coordinator's reservation store failed: \(error)"))
        }
        if let why = lockReason(board, holder: current, calendar: calendar, users: users) { return .locked(reason(why)) }
        return current.map { .held(AgentMonitor.Holding(user: $0.user, until: $0.end, guests: $0.guests)) } ?? .free
    }

    /// `text` as `hold --locked` takes it: one line of at most 300 bytes
    /// (a database's error can be longer), cut at a character with "...".
    static func reason(_ text: String) -> String {
        let line = String(text.map { $0.isNewline || ($0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false) ? " " : $0 })
        guard line.utf8.count > 300 else { return line }
        var cut = ""
        for character in line {
            if cut.utf8.count + String(character).utf8.count > 297 { break }
            cut.append(character)
        }
        return cut + "..."
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

/// The last reservation the store confirmed for each board, for the time
/// the store cannot be reached.
public final class ConfirmedHolders: Sendable {
    private let holders = Mutex<[String: Reservation]>([:])

    public init() {}

    func note(_ board: String, _ reservation: Reservation?) {
        holders.withLock { $0[board] = reservation }
    }

    func last(_ board: String) -> Reservation? { holders.withLock { $0[board] } }
}
