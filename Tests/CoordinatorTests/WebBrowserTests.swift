import Foundation
import ProvisionerTesting
import Testing

/// The lab's web page in a real browser (issue 18): Debian's Chromium,
/// driven by Playwright for Python (scripts/setup puts it in
/// .cache/web-venv), against the real coordinator, two real agents and
/// QEMU arm64 boards with Debian's U-Boot. The browser's steps are in
/// Browser/web_console.py; each prints `ok: …`.
@Suite(.serialized, .enabled(if: Tools.isInstalled("ssh") && LabFixture.canRunVirtualBoards && WebBrowser.canRun
                                 && Tools.isInstalled("python3") && Tools.isInstalled("openssl"),
                             "needs OpenSSH, QEMU, chromium and Playwright (scripts/setup)"))
struct WebBrowserTests {
    @Test func signInReserveAndTypeIntoTheConsoleWhileAnotherUserWatches() async throws {
        let port = try freeTCPPort()
        let site = "http://127.0.0.1:\(port)"
        // Both boards are booked in (the fake) Google Calendar; bob's event
        // tomorrow is titled with markup, which the page must show as text.
        let fake = try await FakeGoogle()
        let xss = "<img src=x onerror=alert(1)>"
        let tomorrow = CalendarEndToEndTests.now + 86400
        var event = CalendarEndToEndTests.booking("xss1", by: "bob@example.com", from: tomorrow, to: tomorrow + 3600)
        event["summary"] = xss
        try fake.put(CalendarEndToEndTests.calendars["b2"]!, event)
        let lab = try await LabFixture(extraConfig: CalendarEndToEndTests.calendarBlock(fake, attendees: false)
                                           + "\nweb: { listen: \"127.0.0.1:\(port)\" }", virtualBoards: true)
        defer { Task { await lab.stop() } }
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        #expect(await eventually { lab.coordinator.stderr.contains("event xss1") }, "\(lab.coordinator.stderr.suffix(1500))")
        let alice = try await lab.ssh("alice", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let bob = try await lab.ssh("bob", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(alice.hasPrefix(site) && bob.hasPrefix(site))
        // PROVISIONER_SCREENSHOTS=docs keeps them for the README.
        let shots = ProcessInfo.processInfo.environment["PROVISIONER_SCREENSHOTS"] ?? lab.folder.path
        let browser = try await RunningProcess.run(WebBrowser.python, [Tools.packageRoot + "/Tests/CoordinatorTests/Browser/web_console.py",
                                                                 "--site", site, "--alice", alice, "--bob", bob, "--board", "b1",
                                                                 "--screenshots", shots, "--xss-title", xss], timeout: .seconds(240))
        print(browser.stdout)
        #expect(browser.exitCode == 0, "\(browser)\n\(lab.coordinator.stderr.suffix(3000))")
        for step in ["the link signed alice in", "a second time: 403", "U-Boot's banner appears", "U-Boot answered",
                     "bob, at the same time", "a cross-origin POST: 403", "shown as text", "no script errors"] {
            #expect(browser.stdout.contains("ok: ") && browser.stdout.contains(step), "missing: \(step)")
        }
        let audit = try await lab.ssh("alice", "audit")
        #expect(audit.stdout.contains("console-attach") && audit.stdout.contains("power"), "\(audit)")
        await lab.stop()
    }
}

/// Debian's Chromium and the Playwright that drives it.
enum WebBrowser {
    static let python = Tools.packageRoot + "/.cache/web-venv/bin/python"
    static var canRun: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: python)
    }
}
