import SystemSupport

/// One poll: a freeBusy check of every due calendar (50 a request), then an
/// incremental sync only where it is needed. Polling a calendar that did not
/// change so costs 1/50 of a request, plus its periodic sync every
/// `syncEvery` polls; a new booking still comes in the same poll.
extension CalendarSync {
    /// Why a board's calendar is synced in this poll rather than only checked.
    enum SyncReason: String {
        case first = "first sync"
        case failing = "retry after a failure"
        case unchecked = "no freeBusy answer"
        case reported = "freeBusy reports an error"
        case changed = "busy time changed"
        case periodic = "periodic sync"
    }

    /// Polls `boards` (every board by default) once, now, on the calling
    /// thread: the sync thread's work each `poll`, and tests'. Returns the
    /// boards whose calendar could not be read.
    @discardableResult
    public func poll(boards: [String]? = nil) -> [String] {
        let boards = (boards ?? Array(options.boards.keys)).filter { options.boards[$0] != nil }.sorted()
        let started = monotonicSeconds()
        let answers = checkFreeBusy(boards)
        var unreadable: [String] = []
        for board in boards where !stopping.withLock({ $0 }) {
            let answer = options.boards[board].flatMap { answers[$0] }
            guard let reason = syncReason(board, answer) else {
                states.withLock {
                    $0[board]?.busy = answer?.busyTime
                    $0[board]?.pollsSinceSync += 1
                    $0[board]?.nextAttempt = started + options.poll
                }
                continue
            }
            if reason == .changed || reason == .reported {
                logger.debug("calendar: \(board): \(reason.rawValue): incremental sync")
            }
            if syncOnce(board: board, nextPoll: started + options.poll) {
                states.withLock { states in
                    guard var state = states[board] else { return }
                    state.busy = answer?.busyTime
                    state.pollsSinceSync = reason == .first ? state.phase : 0
                    states[board] = state
                }
            } else {
                states.withLock { $0[board]?.busy = nil }
                unreadable.append(board)
            }
        }
        return unreadable
    }

    /// Nil when freeBusy shows `board`'s calendar unchanged and its periodic
    /// sync is not due yet.
    func syncReason(_ board: String, _ answer: BusyTime.Answer?) -> SyncReason? {
        let state = states.withLock { $0[board] } ?? BoardCalendarState()
        if state.syncToken == nil { return .first }
        if state.failures > 0 { return .failing }
        guard let answer else { return .unchecked }
        guard let busy = answer.busyTime else { return .reported }
        guard let known = state.busy, known.matches(busy) else { return .changed }
        return state.pollsSinceSync + 1 >= options.syncEvery ? .periodic : nil
    }

    /// freeBusy answers for the calendars of `boards`, by calendar ID; none
    /// while freeBusy is off (`syncEvery` 1) or backing off after a failure.
    /// The window runs from now (what has ended grants nothing) to
    /// `freeBusyHorizon` ahead. A calendar alone in its request is left out:
    /// its incremental sync costs as much and sees everything.
    func checkFreeBusy(_ boards: [String]) -> [String: BusyTime.Answer] {
        guard options.syncEvery > 1, freeBusyHealth.withLock({ $0.nextAttempt }) <= monotonicSeconds() else { return [:] }
        var calendars: [String] = []
        for board in boards {
            if let calendar = options.boards[board], !calendars.contains(calendar) { calendars.append(calendar) }
        }
        let from = Int64(clock())
        let to = from + Int64(options.freeBusyHorizon)
        var answers: [String: BusyTime.Answer] = [:]
        var start = 0
        while calendars.count - start >= 2 {
            let batch = Array(calendars[start..<min(calendars.count, start + GoogleCalendarAPI.freeBusyLimit)])
            start += batch.count
            let outcome: Result<[String: BusyTime.Answer], CalendarError> = syncLock.withLock { _ in
                do throws(CalendarError) { return .success(try api.freeBusy(calendars: batch, from: from, to: to)) } catch { return .failure(error) }
            }
            switch outcome {
            case .success(let batchAnswers):
                answers.merge(batchAnswers) { $1 }
                recordFreeBusySuccess()
            case .failure(let error):
                recordFreeBusyFailure(error)
                return answers
            }
        }
        return answers
    }

    private func recordFreeBusySuccess() {
        let recovered = freeBusyHealth.withLock { health in
            defer { health.failures = 0 }
            return health.failures > 0
        }
        if recovered { logger.notice("calendar: freeBusy answers again: calendars are checked with it") }
    }

    private func recordFreeBusyFailure(_ error: CalendarError) {
        let (failures, wait) = freeBusyHealth.withLock { health in
            health.failures += 1
            let wait = Backoff(base: options.poll, limit: max(options.poll, options.maxBackoff)).delay(attempt: health.failures)
            health.nextAttempt = monotonicSeconds() + wait
            return (health.failures, wait)
        }
        logger.warning("calendar: freeBusy failed\(failures > 1 ? " (\(failures) in a row)" : ""): \(error); every calendar gets an incremental sync instead, freeBusy is tried again in \(Int(wait.rounded()))s")
    }
}
