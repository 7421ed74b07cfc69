import Foundation
@testable import Jobs
import LabMetrics
import ProvisionerTesting
import Testing
import Wire

/// The board's job history as `jobs BOARD --json` reads it back: what was
/// recorded, lines of an older agent, and jobs the agent stopped in.
struct JobHistoryTests {
    /// Every recorded job lands in `/metrics` as Prometheus reads it: a
    /// histogram of durations by type and result (its `_count`: the jobs).
    @Test func aRecordedJobIsCountedInTheMetrics() throws {
        let folder = try TemporaryDirectory(prefix: "job-metrics")
        let history = JobHistory(folder: folder.path("jobs"))
        func line(_ suffix: String) -> String? {
            String(decoding: LabMetrics.shared.exposition(), as: UTF8.self).split(separator: "\n").first {
                $0.hasPrefix("provisioner_job_duration_seconds\(suffix){") && $0.contains(#"result="metrics-check""#)
            }.map(String.init)
        }
        try history.append(JobReport(kind: "flash", user: "ana", started: "x", seconds: 93.4, result: "metrics-check"), board: "b1")
        try history.append(JobReport(kind: "flash", user: "ana", started: "x", seconds: 4.0, result: "metrics-check"), board: "b1")
        #expect(line("_count")?.hasSuffix(" 2") == true, "\(line("_count") ?? "no _count line")")
        #expect(line("_sum").map { $0.hasSuffix(" 97.4") || $0.hasSuffix(" 97.400000000") } == true, "\(line("_sum") ?? "no _sum line")")
        let bucket = String(decoding: LabMetrics.shared.exposition(), as: UTF8.self).split(separator: "\n").first {
            $0.contains(#"result="metrics-check""#) && $0.contains(#"le="5.0""#)
        }
        #expect(bucket?.hasSuffix(" 1") == true && bucket?.contains(#"type="flash""#) == true, "\(bucket ?? "no le=5 bucket")")
    }

    @Test func aRecordedJobReadsBackAsWritten() throws {
        let folder = try TemporaryDirectory(prefix: "job-history")
        let history = JobHistory(folder: folder.path("jobs"))
        var inventory = FlasherEventReport(type: "inventory")
        inventory.memoryBytes = 1_017_286_656
        inventory.blockDevices = [.init(name: "vda", bytes: 8_589_934_592)]
        inventory.elapsed = 0.412
        let flash = JobReport(kind: "flash", user: "ana", started: "2026-05-01T12:05:00Z", seconds: 93.44, result: "ok",
                              files: ["disk.img.zst": "3c47"], inventory: InventoryReport(inventory))
        try history.append(flash, board: "b1")
        #expect(history.records(of: "b1") == [flash])
        #expect(flash.seconds == 93.4, "to 0.1 s")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(history.json(of: "b1").utf8)) as? [[String: Any]])
        let row = try #require(array.first)
        #expect(row["v"] as? Int == 1 && row["kind"] as? String == "flash" && row["error"] == nil)
        let stored = try #require(row["inventory"] as? [String: Any])
        #expect(stored["type"] as? String == "inventory" && stored["serial"] is NSNull && stored["memory_bytes"] as? Int == 1_017_286_656,
                "the inventory as the flasher sent it, unknown values null")
        #expect(history.records(of: "b2").isEmpty && history.json(of: "b2") == "[]\n")
    }

    /// A line written before `"v"`, with the inventory kept whole, and a
    /// line cut short by a crash: the first is read, the second skipped.
    @Test func anOlderAgentsLinesAreReadAndABrokenOneSkipped() throws {
        let folder = try TemporaryDirectory(prefix: "job-history")
        try FileManager.default.createDirectory(atPath: folder.path("jobs"), withIntermediateDirectories: true)
        try (#"{"files":{"Image":""},"kind":"netboot","result":"ok","seconds":41.2,"started":"2026-05-01T12:00:00Z","user":"alice"}"# + "\n"
             + #"{"files":{},"inventory":{"block_devices":[],"elapsed":0.4,"interfaces":[{"mac":"52:54:00:12:34:56","name":"eth0"}],"memory_bytes":null,"serial":"S1","type":"inventory"},"kind":"flash","result":"failed","error":"flasher: x","seconds":3,"started":"2026-05-01T12:05:00Z","user":"bo"}"# + "\n"
             + #"{"files":{},"kind":"fla"#).write(toFile: folder.path("jobs/b1.jsonl"), atomically: false, encoding: .utf8)
        let records = JobHistory(folder: folder.path("jobs")).records(of: "b1")
        #expect(records.map(\.kind) == ["netboot", "flash"])
        #expect(records[1].inventory?.interfaces == [.init(name: "eth0", mac: "52:54:00:12:34:56")] && records[1].inventory?.serial == "S1")
        #expect(records[1].error == "flasher: x")
    }

    /// A job the agent stopped (or died) in is recorded as interrupted when
    /// it starts again, once; a finished job leaves no mark.
    @Test func aJobRunningWhenTheAgentStoppedIsRecordedInterrupted() throws {
        let folder = try TemporaryDirectory(prefix: "job-history")
        let history = JobHistory(folder: folder.path("jobs"))
        history.begin("netboot", by: "ana", startedAt: 1_800_000_000, board: "b1")
        try history.append(JobReport(kind: "netboot", user: "ana", started: "x", seconds: 1, result: "ok"), board: "b1")
        history.begin("flash", by: "bo", startedAt: 1_800_000_100, board: "b2")
        // The agent dies here; the next one starts:
        #expect(JobHistory(folder: folder.path("jobs")).recoverInterrupted() == ["b2"])
        #expect(history.recoverInterrupted().isEmpty, "recorded once")
        #expect(history.records(of: "b1").map(\.result) == ["ok"])
        let interrupted = try #require(history.records(of: "b2").first)
        #expect(interrupted.result == "interrupted" && interrupted.user == "bo" && interrupted.kind == "flash")
        #expect(interrupted.started == "2027-01-15T08:01:40Z")
        #expect(interrupted.error == "agent: stopped while the job ran")
    }
}
