import Foundation
import LabMetrics
import SystemSupport
import Wire

/// Every finished job of a board, one `JobReport` a line in
/// `DATA_DIR/jobs/BOARD.jsonl` (DESIGN.md, `jobs BOARD`): who, when, what,
/// how long, the result, and the flasher's inventory.
///
/// A job that runs has a mark, `BOARD.running`, written when it begins and
/// removed when its record is appended. A mark left when the agent starts
/// is a job the agent stopped or died in: `recoverInterrupted` records it
/// as `interrupted`, so no job is shown running for ever.
public struct JobHistory: Sendable {
    public let folder: String

    public init(folder: String) {
        self.folder = folder
    }

    /// Marks a job of `board` as running.
    public func begin(_ kind: String, by user: String, startedAt started: Double, board: String) {
        let mark = JobReport(kind: kind, user: user, started: isoTime(started), seconds: 0, result: "interrupted",
                             error: "agent: stopped while the job ran")
        try? makeDirectories(folder)
        try? Data(Wire.line(mark).utf8).write(to: URL(fileURLWithPath: markPath(board)), options: .atomic)
    }

    /// Appends one record (a line written with one write(2), O_APPEND) and
    /// removes the board's running mark.
    public func append(_ record: JobReport, board: String) throws {
        try makeDirectories(folder)
        let line = Array((Wire.line(record) + "\n").utf8)
        let fd = open(path(board), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(path(board))") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw SystemError("write \(path(board))") }
        unlink(markPath(board))
        LabMetrics.shared.time("provisioner_job_duration_seconds", [("type", record.kind), ("result", record.result)],
                               seconds: Double(record.seconds))
    }

    /// Records the jobs a stopped agent left running, as `interrupted`;
    /// returns the boards they ran on.
    @discardableResult
    public func recoverInterrupted() -> [String] {
        let marks = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".running") }
        return marks.sorted().compactMap { name in
            let board = String(name.dropLast(".running".count))
            guard let bytes = FileManager.default.contents(atPath: markPath(board)),
                  let mark = try? Wire.decode(JobReport.self, from: Array(bytes)) else {
                unlink(markPath(board))
                return nil
            }
            do {
                try append(mark, board: board)
                return board
            } catch {
                return nil
            }
        }
    }

    /// The board's records, oldest first; lines that do not parse are skipped.
    public func records(of board: String) -> [JobReport] {
        guard let text = try? String(contentsOfFile: path(board), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in try? Wire.decode(JobReport.self, from: Array(line.utf8)) }
    }

    /// The records as one JSON array.
    public func json(of board: String) -> String {
        Wire.line(records(of: board)) + "\n"
    }

    private func path(_ board: String) -> String { "\(folder)/\(board).jsonl" }
    private func markPath(_ board: String) -> String { "\(folder)/\(board).running" }
}
