import AgentCore
import Foundation
import SystemSupport

/// What `netboot` was asked to boot: TFTP names of files already staged
/// for the board (`BOARD/kernel`…), the kernel's arguments, and optionally
/// the console output that means success.
public struct NetbootRequest: Sendable {
    public var user: String
    public var kernel: String
    public var dtb: String?
    public var initrd: String?
    public var arguments: String?
    /// Success once this shows on the console after the kernel started.
    public var wait: ExpectPattern?
    public var waitTimeout: Double

    public init(user: String, kernel: String, dtb: String? = nil, initrd: String? = nil, arguments: String? = nil,
                wait: ExpectPattern? = nil, waitTimeout: Double = 300) {
        self.user = user
        self.kernel = kernel
        self.dtb = dtb
        self.initrd = initrd
        self.arguments = arguments
        self.wait = wait
        self.waitTimeout = waitTimeout
    }
}

/// Runs a netboot (`NetbootStateMachine`): power → U-Boot prompt →
/// environment → TFTP each file → boot → `Starting kernel` (→ the wait
/// pattern). Every step is timed, written to the board log, and reported;
/// every wait has a timeout and U-Boot's errors end it at once.
public final class NetbootJob {
    public let board: any BoardHandle
    public let request: NetbootRequest
    private let report: (String) -> Void
    private let isCancelled: @Sendable () -> Bool
    private let startedAt = monotonicSeconds()

    /// The steps as they ran, with their durations.
    public let steps: JobSteps
    /// What U-Boot reported of each TFTP transfer.
    public private(set) var transfers: [TFTPReport] = []

    /// `report` gets one line per step for the user; `isCancelled` is polled.
    public init(board: any BoardHandle, request: NetbootRequest, report: @escaping (String) -> Void,
                isCancelled: @escaping @Sendable () -> Bool) {
        self.board = board
        self.request = request
        self.report = report
        steps = JobSteps(kind: "netboot", board: board, report: report)
        self.isCancelled = isCancelled
    }

    /// Runs every step; throws the first failure, naming its step.
    public func run() throws(JobFailure) {
        var files = "kernel \(request.kernel)"
        if let initrd = request.initrd { files += ", initrd \(initrd)" }
        if let dtb = request.dtb { files += ", dtb \(dtb)" }
        board.console.note("netboot by \(request.user): \(files)")
        // Attached before power, so no output is missed.
        let uboot = UBootDriver(board: board, isCancelled: isCancelled)
        defer { uboot.detach() }
        var machine = NetbootStateMachine(request: request, board: board.config)
        let runner = JobRunner(driver: uboot, steps: steps, report: report, isCancelled: isCancelled)
        do throws(JobFailure) {
            defer { transfers = machine.transfers }
            try runner.run(&machine)
        } catch {
            board.console.note("netboot by \(request.user): \(error.step) failed: \(error.reason)")
            throw error
        }
        board.console.note("netboot by \(request.user): done in \(seconds(monotonicSeconds() - startedAt))")
    }

    /// The files a board's scripted steps need that the request lacks.
    public static func missingFiles(for profile: UBootProfile, initrd: Bool, dtb: Bool) -> [String] {
        let used = Set((profile.netbootSteps ?? []).flatMap(\.placeholders))
        return [("initrd", initrd), ("dtb", dtb)].filter { used.contains($0.0) && !$0.1 }.map { "--" + $0.0 }
    }
}

/// What U-Boot said of one `tftpboot`.
public struct TFTPReport: Sendable, Equatable {
    public var file: String
    /// `Bytes transferred = N`.
    public var bytes: Int?
    /// U-Boot's own rate line, e.g. `12.3 MiB/s`.
    public var rate: String?

    init(file: String, ubootOutput: String, bytesLine: String) {
        self.file = file
        bytes = Int(bytesLine.prefix(while: { $0.isNumber }))
        rate = ubootOutput.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .last(where: { $0.hasSuffix("/s") && ($0.first?.isNumber ?? false) })
    }

    public var summary: String {
        [bytes.map { "\($0) bytes" }, rate].compactMap { $0 }.joined(separator: " at ")
    }
}

/// A job that failed: the step, why, and the last console lines.
public struct JobFailure: Error, CustomStringConvertible, Sendable, Equatable {
    public var step = ""
    public var reason: String
    public var recentLines: [String] = []
    public var cancelled = false

    public init(reason: String) { self.reason = reason }

    init(_ failure: ExpectFailure) {
        reason = failure.reason
        recentLines = failure.recentLines
        cancelled = failure.cancelled
    }

    func inStep(_ name: String) -> JobFailure {
        var copy = self
        if copy.step.isEmpty { copy.step = name }
        return copy
    }

    public var description: String { step.isEmpty ? reason : "\(step): \(reason)" }
}

/// "12:00:01" (UTC), for the user's progress lines.
func clockTime() -> String {
    let seconds = Int(wallClock()) % 86400
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
}
