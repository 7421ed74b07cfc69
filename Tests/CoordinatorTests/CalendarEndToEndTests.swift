import Foundation
import ProvisionerTesting
import Testing

/// Boards booked in Google Calendar, as users meet them: the real
/// `provisioner-coordinator serve` (LabFixture, two real agents, OpenSSH)
/// syncing from the fake Google over HTTPS with a test CA, polling every
/// second. Users check access the way they would: `power BOARD on` and
/// `reservations --json` over ssh.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen")
                    && Tools.isInstalled("python3") && Tools.isInstalled("openssl"),
                "needs OpenSSH, socat, python3 and openssl"))
struct CalendarEndToEndTests {
    static let calendars = ["b1": "c_b1@resource.calendar.google.com", "b2": "c_b2@resource.calendar.google.com"]

    /// coordinator.yaml's `calendar` block pointing at `fake`.
    static func calendarBlock(_ fake: FakeGoogle, attendees: Bool, staleGrace: String = "5m") -> String {
        """
        calendar:
          google:
            service_account_key: \(fake.keyFile)
            api_url: \(fake.apiURL)
            token_url: \(fake.tokenURL)
            ca_file: \(fake.caFile ?? "")
            poll: 1s
            attendees: \(attendees)
            stale_grace: \(staleGrace)
            boards: { b1: "\(calendars["b1"]!)", b2: "\(calendars["b2"]!)" }
        """
    }

    /// RFC 3339 in UTC, as Google writes dateTime.
    static func rfc3339(_ seconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
    }

    static func booking(_ id: String, by email: String, from start: Int64, to end: Int64, attendees: [[String: Any]] = []) -> [String: Any] {
        ["id": id, "summary": "lab time", "organizer": ["email": email], "creator": ["email": email],
         "start": ["dateTime": rfc3339(start)], "end": ["dateTime": rfc3339(end)], "attendees": attendees]
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    /// Runs `check` until it holds, for at most `timeout` (generous: a slow
    /// machine only waits longer); true when it held.
    static func within(_ timeout: Duration = .seconds(20), _ check: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await check()
    }

    /// `reservations --json` as `user`.
    static func reservations(_ lab: LabFixture, as user: String = "alice") async throws -> [[String: Any]] {
        let result = try await lab.ssh(user, "reservations", "--json")
        guard result.exitCode == 0 else { throw TestSetupError("reservations --json: \(result)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    }

    @Test func bookingsInTheCalendarGrantAndRevokeAccessAndReserveWritesEvents() async throws {
        let fake = try await FakeGoogle()
        let lab = try await LabFixture(users: ["alice", "bob", "carol"], extraConfig: Self.calendarBlock(fake, attendees: false))
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        #expect(await eventually { lab.coordinator.stderr.contains("full sync") }, "\(lab.coordinator.stderr.suffix(2000))")
        let powerFile = lab.folder.path("agent1/power-on")

        // Idle, a poll is one freeBusy request for both calendars (and now and
        // then one calendar's periodic sync): under one request per calendar per poll.
        let idleFrom = try fake.requests().count
        try await Task.sleep(for: .seconds(5))
        let idle = try fake.requests().dropFirst(idleFrom)
        let checks = idle.filter { $0.path == "/calendar/v3/freeBusy" && $0.status == 200 && $0.calendars == 2 }.count
        #expect(checks >= 3 && idle.count < 2 * checks, "\(idle.map { "\($0.method) \($0.path) \($0.status)" })")

        // Not booked: bob may not switch b1.
        let before = try await lab.ssh("bob", "power", "b1", "on")
        #expect(before.exitCode == 3 && before.stderr.contains("not reserved"), "\(before)")

        // Bob books b1 in the calendar: he may use it from the next poll on.
        try fake.put(Self.calendars["b1"]!, Self.booking("bobslot1", by: "bob@example.com", from: Self.now - 60, to: Self.now + 3600))
        let granted = try await Self.within { try await lab.ssh("bob", "power", "b1", "on").exitCode == 0 }
        #expect(granted, "bob never got b1: \(lab.coordinator.stderr.suffix(2000))")
        // The poll that saw it: freeBusy for both calendars, then b1's incremental sync.
        let afterBooking = try fake.requests().dropFirst(idleFrom + idle.count)
        let read = try #require(afterBooking.firstIndex { $0.method == "GET" && $0.path.contains("c_b1@") })
        #expect(afterBooking[..<read].last?.path == "/calendar/v3/freeBusy", "\(afterBooking.map { "\($0.method) \($0.path)" })")
        #expect(FileManager.default.fileExists(atPath: powerFile))
        let listed = try await Self.reservations(lab, as: "carol")
        #expect(listed.contains { $0["board"] as? String == "b1" && $0["user"] as? String == "bob" && $0["source"] as? String == "calendar" },
                "\(listed)")
        let refused = try await lab.ssh("alice", "power", "b1", "off")
        #expect(refused.exitCode == 3 && refused.stderr.contains("held by bob"), "\(refused)")

        // Cancelled in the calendar: his access ends at the next poll.
        try fake.cancel(Self.calendars["b1"]!, id: "bobslot1")
        var last: ProcessResult?
        let revoked = try await Self.within {
            last = try await lab.ssh("bob", "power", "b1", "on")
            return last?.exitCode == 3
        }
        #expect(revoked && last?.stderr.contains("not reserved") == true, "\(String(describing: last))")
        #expect(try await Self.reservations(lab).allSatisfy { $0["board"] as? String != "b1" })

        // `reserve` on a calendar board writes the event; the fake holds it.
        let reserved = try await lab.ssh("carol", "reserve", "b1", "--for", "30m")
        #expect(reserved.exitCode == 0 && reserved.stdout.contains("reserved by carol") && reserved.stdout.contains("in its calendar"),
                "\(reserved)")
        let written = try fake.events(Self.calendars["b1"]!).filter {
            ((($0["extendedProperties"] as? [String: Any])?["private"] as? [String: Any])?["provisioner_user"] as? String) == "carol"
        }
        #expect(written.count == 1 && written.first?["status"] as? String == "confirmed", "\(written)")
        #expect((written.first?["organizer"] as? [String: Any])?["email"] as? String == FakeGoogle.serviceEmail)
        #expect(try await lab.ssh("carol", "power", "b1", "off").exitCode == 0)
        // Read back at the next polls, it stays carol's.
        try await Task.sleep(for: .seconds(2))
        #expect(try await Self.reservations(lab).contains { $0["board"] as? String == "b1" && $0["user"] as? String == "carol" })
        // alice waits for an emmc board (only b1 has the tag).
        let waiter = try RunningProcess("ssh", lab.sshArguments(as: "alice") + ["reserve", "--tag", "emmc", "--wait", "--for", "20m"])
        defer { waiter.signal(SIGKILL) }
        try await waiter.waitForLine(containing: "number 1 in the queue")
        // `release` ends the event in the calendar.
        #expect(try await lab.ssh("carol", "release", "b1").exitCode == 0)
        let ended = try #require(try fake.events(Self.calendars["b1"]!).first { $0["id"] as? String == written.first?["id"] as? String })
        let end = try #require((ended["end"] as? [String: Any])?["dateTime"] as? String)
        let endTime = try #require(ISO8601DateFormatter().date(from: end))
        #expect(abs(endTime.timeIntervalSinceNow) < 120, "the event ends now: \(end)")
        // The queue's allocation of a calendar board writes its event first, as `reserve` does.
        #expect(await waiter.waitForExit(timeout: .seconds(10)) == 0 && waiter.stdout == "b1\n", "\(waiter.stdout) \(waiter.stderr)")
        let allocated = try fake.events(Self.calendars["b1"]!).filter {
            ((($0["extendedProperties"] as? [String: Any])?["private"] as? [String: Any])?["provisioner_user"] as? String) == "alice"
                && $0["status"] as? String == "confirmed"
        }
        #expect(allocated.count == 1, "alice's event: \(allocated)")
        #expect(try await lab.ssh("alice", "release", "b1").exitCode == 0)

        await lab.stop()
        try Self.expectNoSecrets(fake, in: lab.coordinator.stderr)
    }

    @Test func anAttendeeWhoAcceptedMayUseTheBoardWhenConfigured() async throws {
        let fake = try await FakeGoogle()
        let lab = try await LabFixture(users: ["alice", "bob", "carol"], extraConfig: Self.calendarBlock(fake, attendees: true))
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }

        try fake.put(Self.calendars["b2"]!, Self.booking("team1", by: "alice@example.com", from: Self.now - 60, to: Self.now + 3600,
                                                         attendees: [
                                                             ["email": "bob@example.com", "responseStatus": "accepted"],
                                                             ["email": "carol@example.com", "responseStatus": "declined"],
                                                         ]))
        let listed = try await Self.within {
            try await Self.reservations(lab).contains { $0["board"] as? String == "b2" && $0["guests"] as? [String] == ["bob"] }
        }
        #expect(listed, "\(lab.coordinator.stderr.suffix(2000))")
        // The agent is told too: it enforces the same (DESIGN.md, "Holders and TFTP").
        #expect(await eventually { lab.agents[1].stderr.contains("hold: b2 held by alice with bob until") },
                "agent2: \(lab.agents[1].stderr.suffix(1500))")
        let bob = try await lab.ssh("bob", "power", "b2", "on")
        #expect(bob.exitCode == 0 && bob.stdout == "b2: on\n", "\(bob)")
        #expect(FileManager.default.fileExists(atPath: lab.folder.path("agent2/power-on")))
        #expect(try await lab.ssh("alice", "power", "b2", "off").exitCode == 0)
        let carol = try await lab.ssh("carol", "power", "b2", "on")
        #expect(carol.exitCode == 3 && carol.stderr.contains("held by alice"), "\(carol)")
        // Only the organizer may release it.
        #expect(try await lab.ssh("bob", "release", "b2").exitCode == 3)
        await lab.stop()
        try Self.expectNoSecrets(fake, in: lab.coordinator.stderr)
    }

    /// Free is not locked: a booking by someone who is no user of the lab,
    /// and a calendar that cannot be read past its grace, lock the board on
    /// its agent (nobody may use it), and it is free again after.
    @Test func anUnknownOrganizerOrAStaleCalendarLocksTheBoardOnItsAgent() async throws {
        let fake = try await FakeGoogle()
        let lab = try await LabFixture(users: ["alice", "bob"], extraConfig: Self.calendarBlock(fake, attendees: false, staleGrace: "2s"))
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        #expect(await eventually { lab.agents[0].stderr.contains("hold: b1 is free") }, "agent1: \(lab.agents[0].stderr.suffix(1500))")

        try fake.put(Self.calendars["b1"]!, Self.booking("mallory1", by: "mallory@example.com", from: Self.now - 60, to: Self.now + 3600))
        #expect(await eventually { lab.agents[0].stderr.contains("hold: b1 is locked: reserved by mallory@example.com, who is not a user of this lab") },
                "agent1: \(lab.agents[0].stderr.suffix(1500))")
        let boards = try await lab.waitForBoards { $0.contains { $0["name"] as? String == "b1" && $0["locked"] is String } }
        #expect(boards.first { $0["name"] as? String == "b1" }?["holder"] as? String == "mallory@example.com")
        let refused = try await lab.ssh("alice", "power", "b1", "on")
        #expect(refused.exitCode == 3, "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: lab.folder.path("agent1/power-on")))
        try fake.cancel(Self.calendars["b1"]!, id: "mallory1")
        #expect(await eventually { lab.agents[0].stderr.components(separatedBy: "hold: b1 is free").count == 3 },
                "freed again: \(lab.agents[0].stderr.suffix(1500))")

        // b2's calendar fails past its grace: locked, then free once it reads again.
        try fake.fail("calendar", status: 500, count: 1000)
        #expect(await eventually(timeout: .seconds(30)) { lab.agents[1].stderr.contains("hold: b2 is locked: the calendar of b2 cannot be read since") },
                "agent2: \(lab.agents[1].stderr.suffix(1500)) coordinator: \(lab.coordinator.stderr.suffix(3000))")
        try fake.admin("clear-failures")
        #expect(await eventually(timeout: .seconds(40)) { lab.agents[1].stderr.components(separatedBy: "hold: b2 is free").count == 3 },
                "agent2: \(lab.agents[1].stderr.suffix(1500))")
        #expect(try await lab.ssh("alice", "reserve", "b2", "--for", "10m").exitCode == 0)
        #expect(try await lab.ssh("alice", "power", "b2", "on").exitCode == 0)
        await lab.stop()
    }

    /// No access token, JWT or key line in the coordinator's log.
    static func expectNoSecrets(_ fake: FakeGoogle, in log: String) throws {
        let secrets = try fake.secrets()
        #expect(!secrets.isEmpty)
        let keyLines = fake.privateKeyPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        for secret in secrets + keyLines where secret.count > 16 {
            #expect(!log.contains(secret), "a secret in the coordinator's log")
        }
    }
}
