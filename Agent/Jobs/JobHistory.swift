import Foundation
import SystemSupport

/// Every finished job of a board, one JSON object a line in
/// `DATA_DIR/jobs/BOARD.jsonl` (DESIGN.md, `jobs BOARD`): who, when, what,
/// how long, the result, and the flasher's inventory.
public struct JobHistory: Sendable {
    public let folder: String

    public init(folder: String) {
        self.folder = folder
    }

    public struct Record: Sendable, Equatable {
        public var kind: String
        public var user: String
        /// Unix time.
        public var started: Double
        public var seconds: Double
        /// `ok`, `failed` or `cancelled`.
        public var result: String
        public var error: String?
        /// Artifacts by name with their sha256, when known.
        public var files: [String: String]
        /// The flasher's inventory, as JSON text.
        public var inventory: String?

        public init(kind: String, user: String, started: Double, seconds: Double, result: String, error: String? = nil,
                    files: [String: String] = [:], inventory: String? = nil) {
            self.kind = kind
            self.user = user
            self.started = started
            self.seconds = seconds
            self.result = result
            self.error = error
            self.files = files
            self.inventory = inventory
        }

        var json: [String: Any] {
            var object: [String: Any] = ["kind": kind, "user": user, "started": isoTime(started),
                                         "seconds": (seconds * 10).rounded() / 10, "result": result, "files": files]
            if let error { object["error"] = error }
            if let inventory, let data = inventory.data(using: .utf8), let value = try? JSONSerialization.jsonObject(with: data) {
                object["inventory"] = value
            }
            return object
        }
    }

    /// Appends one record (a line written with one write(2), O_APPEND).
    public func append(_ record: Record, board: String) throws {
        try makeDirectories(folder)
        let data = try JSONSerialization.data(withJSONObject: record.json, options: [.sortedKeys]) + Data("\n".utf8)
        let fd = open(path(board), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(path(board))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else { throw SystemError("write \(path(board))") }
    }

    /// The board's records as JSON objects, oldest first; unreadable lines skipped.
    public func records(of board: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path(board), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// The records as one JSON array.
    public func json(of board: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: records(of: board), options: [.sortedKeys])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func path(_ board: String) -> String { "\(folder)/\(board).jsonl" }
}
