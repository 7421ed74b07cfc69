import Foundation
import ProvisionerTesting
import Reservations
import SystemSupport
import Testing
import Web

/// Signing in to the lab's web page without a password (issue 18, its
/// first part), as a user does it: `ssh lab web` prints a link, the
/// browser (here curl, keeping its cookies) opens it once, and is then
/// signed in; the link fails the second time; a cross-origin POST is
/// refused; `--revoke` signs every browser out; `--token` is for tools.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("curl"), "needs OpenSSH, socat and curl"))
struct WebLoginTests {
    static func curl(_ arguments: [String]) async throws -> (status: Int, headers: String, body: String) {
        let result = try await RunningProcess.run("curl", ["-s", "-i", "--max-time", "10"] + arguments, timeout: .seconds(20))
        let text = result.stdout
        guard let split = text.range(of: "\r\n\r\n") else { throw TestSetupError("curl: \(result)") }
        let headers = String(text[..<split.lowerBound])
        let status = Int(headers.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, headers, String(text[split.upperBound...]))
    }

    /// A lab whose coordinator serves the page on a free port, its boards
    /// reported; the page's URL.
    static func webLab() async throws -> (LabFixture, String) {
        let port = try freeTCPPort()
        let lab = try await LabFixture(extraConfig: "web: { listen: \"127.0.0.1:\(port)\" }")
        _ = try await lab.waitForBoards { $0.count == 2 }
        return (lab, "http://127.0.0.1:\(port)")
    }

    /// The session's CSRF token, from a signed-in page's `<meta name="csrf">`.
    static func csrf(in page: String) throws -> String {
        try #require(page.firstRange(of: #"name="csrf" content=""#).map { range in
            String(page[range.upperBound...].prefix { $0 != "\"" })
        })
    }

    @Test func aOneTimeLinkSignsTheBrowserInOnce() async throws {
        let (lab, site) = try await Self.webLab()
        defer { Task { await lab.stop() } }
        let jar = lab.folder.path("cookies")

        let before = try await Self.curl(["\(site)/api/v1/boards"])
        #expect(before.status == 401 && before.body.contains("not signed in"), "\(before)")
        let page = try await Self.curl(["\(site)/"])
        #expect(page.status == 401 && page.body.contains("ssh lab web"), "\(page)")
        #expect(page.headers.contains("Content-Security-Policy: default-src 'self'") && !page.headers.contains("unsafe-inline"))

        let web = try await lab.ssh("bob", "web")
        #expect(web.exitCode == 0 && web.stdout.hasPrefix("\(site)/login?t=") && web.stderr.contains("once"), "\(web)")
        let link = web.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let signIn = try await Self.curl(["-c", jar, link])
        #expect(signIn.status == 303, "\(signIn)")
        let cookie = signIn.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
        #expect(cookie.contains("provisioner_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict")
                && cookie.contains("Max-Age=43200") && !cookie.contains("Secure"), "\(cookie)")
        let again = try await Self.curl([link])
        #expect(again.status == 403 && again.body.contains("used already"), "the link worked twice: \(again)")

        let boards = try await Self.curl(["-b", jar, "\(site)/api/v1/boards"])
        #expect(boards.status == 200 && boards.body.contains(#""name":"b1""#) && boards.body.contains(#""name":"b2""#), "\(boards)")
        // Who waits for boards (the boards page's queue column), as `queue --json` says: nobody.
        let queue = try await Self.curl(["-b", jar, "\(site)/api/v1/queue"])
        #expect(queue.status == 200 && queue.body == "[]\n", "\(queue)")
        let signedIn = try await Self.curl(["-b", jar, "\(site)/"])
        #expect(signedIn.status == 200 && signedIn.body.contains(#"signed in as <b id="me">bob</b>"#)
                && signedIn.body.contains(#"<script src="/static/app.js">"#) && !signedIn.body.contains("<script>"), "\(signedIn)")
        let csrf = try Self.csrf(in: signedIn.body)
        #expect(csrf.count == 64)

        // A form posted from another site is refused, and one without the
        // session's CSRF token; bob stays signed in.
        let forged = try await Self.curl(["-b", jar, "-X", "POST", "-H", "Origin: http://evil.example", "-H", "X-CSRF-Token: \(csrf)",
                                          "\(site)/api/v1/boards/b1/reserve"])
        #expect(forged.status == 403, "\(forged)")
        let tokenless = try await Self.curl(["-b", jar, "-X", "POST", "-H", "Origin: \(site)", "\(site)/api/v1/boards/b1/reserve"])
        #expect(tokenless.status == 403, "\(tokenless)")
        #expect(try await Self.curl(["-b", jar, "\(site)/api/v1/boards"]).status == 200, "a forged request signed bob out")
        // From the page: a button's request does what `ssh lab reserve` does, as bob.
        let reserved = try await Self.curl(["-b", jar, "-X", "POST", "-H", "Origin: \(site)", "-H", "X-CSRF-Token: \(csrf)",
                                            "--data-binary", "30m", "\(site)/api/v1/boards/b1/reserve"])
        #expect(reserved.status == 200 && reserved.body.contains("b1: reserved by bob until"), "\(reserved)")
        let refused = try await Self.curl(["-b", jar, "-X", "POST", "-H", "Origin: \(site)", "-H", "X-CSRF-Token: \(csrf)",
                                           "\(site)/api/v1/boards/b2/power/on"])
        #expect(refused.status == 403 && refused.body.contains("needs a reservation of b2"), "\(refused)")

        // A token for tools; --revoke ends it and the browser session.
        let token = try await lab.ssh("bob", "web", "--token")
        let bearer = token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.exitCode == 0 && bearer.count == 64, "\(token)")
        #expect(try await Self.curl(["-H", "Authorization: Bearer \(bearer)", "\(site)/api/v1/boards"]).status == 200)
        let revoked = try await lab.ssh("bob", "web", "--revoke")
        #expect(revoked.exitCode == 0 && revoked.stdout.contains("2 sessions"), "\(revoked)")
        #expect(try await Self.curl(["-b", jar, "\(site)/api/v1/boards"]).status == 401)
        #expect(try await Self.curl(["-H", "Authorization: Bearer \(bearer)", "\(site)/api/v1/boards"]).status == 401)

        // Signing out from the page itself.
        let second = try await lab.ssh("alice", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await Self.curl(["-c", jar, second]).status == 303)
        let alicePage = try await Self.curl(["-b", jar, "\(site)/"]).body
        let aliceCSRF = alicePage.firstRange(of: #"name="csrf" value=""#).map { String(alicePage[$0.upperBound...].prefix { $0 != "\"" }) } ?? ""
        let logout = try await Self.curl(["-b", jar, "-c", jar, "-X", "POST", "-H", "Origin: \(site)", "--data", "csrf=\(aliceCSRF)",
                                          "\(site)/logout"])
        #expect(logout.status == 303, "\(logout)")
        #expect(try await Self.curl(["-b", jar, "\(site)/api/v1/boards"]).status == 401)

        let usage = try await lab.ssh("bob", "web", "--token", "--revoke")
        #expect(usage.exitCode == 2, "\(usage)")
        let audit = try await lab.ssh("alice", "audit")
        #expect(audit.stdout.contains("web-token") && audit.stdout.contains("web-revoke") && audit.stdout.contains("until") && audit.stdout.contains("reserve"),
                "\(audit)")
        await lab.stop()
    }

    /// With web.tls_cert and web.tls_key the page is HTTPS (libmicrohttpd
    /// over GnuTLS), its links https:// and its cookie Secure.
    @Test(.enabled(if: Tools.isInstalled("openssl"), "needs openssl"))
    func httpsWhenACertificateIsGiven() async throws {
        let port = try freeTCPPort()
        let keys = try TemporaryDirectory(prefix: "web-tls")
        let made = try await RunningProcess.run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                            "-keyout", keys.path("key.pem"), "-out", keys.path("cert.pem"), "-days", "2",
                                                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        #expect(made.exitCode == 0, "\(made)")
        let lab = try await LabFixture(extraConfig: """
            web: { listen: "127.0.0.1:\(port)", tls_cert: "\(keys.path("cert.pem"))", tls_key: "\(keys.path("key.pem"))" }
            """)
        defer { Task { await lab.stop() } }
        let link = try await lab.ssh("bob", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(link.hasPrefix("https://127.0.0.1:\(port)/login?t="), "\(link)")
        let signIn = try await Self.curl(["--cacert", keys.path("cert.pem"), link])
        #expect(signIn.status == 303 && signIn.headers.contains("Secure"), "\(signIn)")
        // The console's WebSocket over TLS (libmicrohttpd encrypts what goes
        // through the socket pair it hands over): Python's ssl as the client.
        let cookie = String(try #require(signIn.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
            .dropFirst("set-cookie:".count).split(separator: ";")[0]).trimmingCharacters(in: .whitespaces)
        let page = try await Self.curl(["--cacert", keys.path("cert.pem"), "-H", "Cookie: \(cookie)", "https://127.0.0.1:\(port)/"])
        let csrf = try Self.csrf(in: page.body)
        try keys.createFile("wss.py", text: """
            import socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[1])
            with context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2]))), server_hostname="127.0.0.1") as s:
                s.sendall(("GET /api/v1/boards/b1/console?csrf=" + sys.argv[4] + " HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n"
                           "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nOrigin: https://127.0.0.1:" + sys.argv[2] + "\\r\\n"
                           "Cookie: " + sys.argv[3] + "\\r\\n\\r\\n").encode())
                got = b""
                while b"\\r\\n\\r\\n" not in got: got += s.recv(4096)
                print(got.split(b"\\r\\n")[0].decode())
                s.sendall(bytes([0x89, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2]))
                got = got.split(b"\\r\\n\\r\\n", 1)[1]
                while bytes([0x8a, 2]) + b"hi" not in got: got += s.recv(4096)
                print("pong")
            """)
        let wss = try await RunningProcess.run("python3", [keys.path("wss.py"), keys.path("cert.pem"), "\(port)", cookie, csrf],
                                               timeout: .seconds(20))
        #expect(wss.stdout == "HTTP/1.1 101 Switching Protocols\npong\n", "\(wss)")
        let plain = try await RunningProcess.run("curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/"])
        #expect(plain.exitCode != 0 || !plain.stdout.contains("Sign in"), "plain HTTP was answered: \(plain)")
        await lab.stop()
    }

    /// Garbage at the page: each gets its clear answer, nothing changes, the
    /// page serves on.
    @Test func garbageGetsClearAnswersAndChangesNothing() async throws {
        let (lab, site) = try await Self.webLab()
        defer { Task { await lab.stop() } }
        let jar = lab.folder.path("cookies")
        let link = try await lab.ssh("bob", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await Self.curl(["-c", jar, link]).status == 303)
        let page = try await Self.curl(["-b", jar, "\(site)/"])
        let csrf = try Self.csrf(in: page.body)
        let post = ["-b", jar, "-X", "POST", "-H", "Origin: \(site)", "-H", "X-CSRF-Token: \(csrf)"]
        for path in ["/board/..%2F..%2Fetc", "/board/-x", "/api/v1/boards/../../console", "/api/v1/boards/%00/jobs", "/nothing"] {
            let answer = try await Self.curl(["-b", jar, "--path-as-is", site + path])
            #expect(answer.status == 404, "\(path): \(answer)")
        }
        for body in ["nan", "-1", "1e19", "99999999999999999999h", "1e-300"] {
            // The command layer's usage error, as ssh would print it: exit status 2 and one line.
            let answer = try await Self.curl(post + ["--data-binary", body, "\(site)/api/v1/boards/b1/reserve"])
            let outcome = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            let said = outcome?["stderr"] as? String ?? ""
            #expect(answer.status == 400 && outcome?["status"] as? Int == 2 && said.hasPrefix("reserve: ")
                    && said.split(separator: "\n").count == 1, "reserve --for \(body): \(answer.body)")
        }
        let badTime = try await Self.curl(post + ["--data-binary", "soon", "\(site)/api/v1/boards/b1/reserve-until"])
        #expect(badTime.status == 400, "\(badTime)")
        let huge = lab.folder.path("huge")
        FileManager.default.createFile(atPath: huge, contents: Data(repeating: 0x41, count: 200_000))
        let tooLarge = try await Self.curl(post + ["--data-binary", "@\(huge)", "\(site)/api/v1/boards/b1/reserve"])
        #expect(tooLarge.status == 413, "\(tooLarge)")
        let noConsole = try await Self.curl(post + ["--data-binary", "x", "\(site)/api/v1/console/0123/input"])
        #expect(noConsole.status == 404, "\(noConsole)")
        for cookie in ["provisioner_session=../../etc/passwd", "provisioner_session=", String(repeating: "a", count: 5000)] {
            #expect(try await Self.curl(["-H", "Cookie: \(cookie)", "\(site)/api/v1/boards"]).status == 401, "\(cookie.prefix(40))")
        }
        #expect(try await Self.curl(["-H", "Authorization: Bearer \(String(repeating: "f", count: 64))", "\(site)/api/v1/boards"]).status == 401)
        // Odd terminal sizes are clamped; the console still opens (and is closed by curl's time limit).
        let odd = try await RunningProcess.run("curl", ["-s", "-N", "--max-time", "2", "-b", jar,
                                                        "\(site)/api/v1/boards/b1/console?cols=99999999999999999999&rows=-5"],
                                               timeout: .seconds(10))
        #expect(odd.stdout.hasPrefix("event: ready\ndata: "), "\(odd)")
        // Nothing was reserved, and the page serves on.
        let listed = try await lab.ssh("alice", "reservations")
        #expect(!listed.stdout.contains("b1 "), "\(listed)")
        #expect(try await Self.curl(["-b", jar, "\(site)/api/v1/boards"]).status == 200)
        await lab.stop()
    }

    /// Signs `user` in as a browser does: the session cookie (as a
    /// `Cookie:` header's value) and the page's CSRF token.
    static func signIn(_ user: String, _ lab: LabFixture, _ site: String) async throws -> (cookie: String, csrf: String) {
        let link = try await lab.ssh(user, "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let signIn = try await Self.curl([link])
        let header = try #require(signIn.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
        let cookie = String(header.dropFirst("set-cookie:".count).split(separator: ";")[0]).trimmingCharacters(in: .whitespaces)
        let page = try await Self.curl(["-H", "Cookie: \(cookie)", "\(site)/"])
        return (cookie, try Self.csrf(in: page.body))
    }

    /// The board's console on a WebSocket, as the page opens it: the
    /// holder's keys reach the board, a watcher's do not; a handshake from
    /// another site, without the token or of another version is refused;
    /// malformed frames close the socket with RFC 6455's codes; and a
    /// coordinator that stops closes it and exits on its SIGTERM.
    @Test func theConsoleOnAWebSocketTypesForTheHolderOnly() async throws {
        let (lab, site) = try await Self.webLab()
        defer { Task { await lab.stop() } }
        let port = try #require(UInt16(site.split(separator: ":").last ?? ""))
        #expect(try await lab.ssh("alice", "reserve", "b1", "--for", "30m").exitCode == 0)
        let alice = try await Self.signIn("alice", lab, site)
        let bob = try await Self.signIn("bob", lab, site)
        let path = "/api/v1/boards/b1/console?cols=80&rows=24&csrf="

        // Handshakes that are refused, each with its status.
        let evil = try WebSocketClient(port: port, path: path + alice.csrf,
                                       headers: WebSocketClient.handshake(origin: "http://evil.example", cookie: alice.cookie))
        #expect(evil.status == 403, "\(evil.answer)")
        let tokenless = try WebSocketClient(port: port, path: path, headers: WebSocketClient.handshake(origin: site, cookie: alice.cookie))
        #expect(tokenless.status == 403, "\(tokenless.answer)")
        let anonymous = try WebSocketClient(port: port, path: path + alice.csrf, headers: WebSocketClient.handshake(origin: site, cookie: "x=y"))
        #expect(anonymous.status == 401, "\(anonymous.answer)")
        let version8 = try WebSocketClient(port: port, path: path + alice.csrf,
                                           headers: WebSocketClient.handshake(origin: site, cookie: alice.cookie)
                                               .map { $0.hasPrefix("Sec-WebSocket-Version") ? "Sec-WebSocket-Version: 8" : $0 })
        #expect(version8.status == 426 && version8.answer.contains("Sec-WebSocket-Version: 13"), "\(version8.answer)")
        let badKey = try WebSocketClient(port: port, path: path + alice.csrf,
                                         headers: WebSocketClient.handshake(origin: site, key: "c2hvcnQ=", cookie: alice.cookie))
        #expect(badKey.status == 400 && badKey.answer.contains("application/json"), "\(badKey.answer)")

        // Alice's console: RFC 6455's own example key gets its example answer.
        let holder = try WebSocketClient(port: port, path: path + alice.csrf, headers: WebSocketClient.handshake(origin: site, cookie: alice.cookie))
        #expect(holder.status == 101 && holder.answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                && holder.answer.contains("\r\nConnection: Upgrade\r\n") && holder.answer.contains("\r\nUpgrade: websocket\r\n"), "\(holder.answer)")
        let watcher = try WebSocketClient(port: port, path: path + bob.csrf, headers: WebSocketClient.handshake(origin: site, cookie: bob.cookie))
        #expect(watcher.status == 101, "\(watcher.answer)")
        let board = lab.boardSide()
        #expect(board >= 0)
        defer { close(board) }
        try await Task.sleep(for: .milliseconds(500))
        _ = "U-Boot 2023.01\r\n=> ".withCString { write(board, $0, strlen($0)) }
        #expect(holder.read(until: "U-Boot 2023.01") != nil, "the board's output never reached alice's socket")
        #expect(watcher.read(until: "U-Boot 2023.01") != nil, "the board's output never reached bob's socket")
        watcher.sendText("bob-typed\r")
        holder.send(1, Array("vers".utf8), fin: false)
        holder.send(0, Array("ion\r".utf8))
        let typed = try await LabFixture.typed(on: board, until: "version\r")
        #expect(typed.contains("version\r") && !typed.contains("bob"), "the board got: \(typed.debugDescription)")
        holder.send(9, Array("hi".utf8))
        var pong: (opcode: UInt8, payload: [UInt8])?
        while let frame = holder.nextFrame() {
            if frame.opcode == 10 { pong = frame; break }
        }
        #expect(pong?.payload == Array("hi".utf8), "no pong for a ping")

        // Broken frames: each closes its socket with its code; the console serves on.
        let unmasked = try WebSocketClient(port: port, path: path + bob.csrf, headers: WebSocketClient.handshake(origin: site, cookie: bob.cookie))
        unmasked.sendRaw([0x81, 0x02, 0x68, 0x69])
        #expect(unmasked.closeFrame()?.code == 1002)
        let huge = try WebSocketClient(port: port, path: path + bob.csrf, headers: WebSocketClient.handshake(origin: site, cookie: bob.cookie))
        huge.sendRaw([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4])
        #expect(huge.closeFrame()?.code == 1009)
        let reserved = try WebSocketClient(port: port, path: path + bob.csrf, headers: WebSocketClient.handshake(origin: site, cookie: bob.cookie))
        reserved.sendRaw([0xc1, 0x80, 1, 2, 3, 4])
        #expect(reserved.closeFrame()?.code == 1002)
        _ = "still here\r\n".withCString { write(board, $0, strlen($0)) }
        #expect(holder.read(until: "still here") != nil, "alice's console ended with bob's broken sockets")

        // The coordinator stops: alice's socket is closed, and SIGTERM was enough.
        let status = await lab.coordinator.terminate(grace: .seconds(8))
        #expect(status == 0, "the coordinator did not stop on SIGTERM (status \(status))")
        #expect(holder.closeFrame() != nil || holder.nextFrame() == nil)
        await lab.stop()
    }

    /// The smallest lab: a lone agent serves the page itself (`web:` in
    /// agent.yaml), with its own users (their keys) and reservations.
    @Test func aLoneAgentServesItsOwnPage() async throws {
        let port = try freeTCPPort()
        let site = "http://127.0.0.1:\(port)"
        let agent = try await ServedAgent(prefix: "web-agent", users: ["user", "other"], boards: """
              - name: b1
                serial: { device: data/absent }
                power: { type: command, on: "true", off: "true", status: "true" }

            web: { listen: "127.0.0.1:\(port)" }
            """)
        let web = try await agent.ssh("web")
        #expect(web.exitCode == 0 && web.stdout.hasPrefix("\(site)/login?t="), "\(web)")
        let jar = agent.folder.path("cookies")
        #expect(try await Self.curl(["-c", jar, web.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]).status == 303)
        let page = try await Self.curl(["-b", jar, "\(site)/"])
        let csrf = try Self.csrf(in: page.body)
        let boards = try await Self.curl(["-b", jar, "\(site)/api/v1/boards"])
        #expect(boards.status == 200 && boards.body.contains(#""name":"b1""#), "\(boards)")
        let reserved = try await Self.curl(["-b", jar, "-X", "POST", "-H", "Origin: \(site)", "-H", "X-CSRF-Token: \(csrf)",
                                            "\(site)/api/v1/boards/b1/reserve"])
        #expect(reserved.status == 200 && reserved.body.contains("b1: reserved by user until"), "\(reserved)")
        // The agent's own holder check, as over ssh: the other user may not switch it.
        let other = try await agent.ssh(as: "other", "power", "b1", "on")
        #expect(other.exitCode == 3, "\(other)")
        #expect(await agent.process.terminate() == 0, "\(agent.process.stderr.suffix(800))")
    }

    @Test func aLabWithoutAWebPageSaysSo() async throws {
        let lab = try await LabFixture()
        defer { Task { await lab.stop() } }
        let web = try await lab.ssh("bob", "web")
        #expect(web.exitCode == 1 && web.stderr.contains("web.listen is not set"), "\(web)")
        await lab.stop()
    }

    /// What a user or a calendar controls is text on the page, never markup.
    @Test func everythingShownIsEscaped() {
        #expect(WebServer.escape("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;")
        #expect(WebServer.escape(#"a "b" & 'c'"#) == "a &quot;b&quot; &amp; &#39;c&#39;")
        #expect(WebServer.escape("Éve ⌚️") == "Éve ⌚️")
    }

    /// A link is good once, for 5 minutes; a session for 12 hours.
    @Test func linksAndSessionsRunOut() throws {
        let now = Shared(1000.0)
        let access = WebAccess(clock: { now.current })
        let link = try access.link(for: "alice", admin: false)
        now.update { $0 += WebAccess.linkSeconds }
        #expect(access.redeem(link) == nil, "a link past 5 minutes signed in")
        let fresh = try access.link(for: "alice", admin: false)
        let session = try? #require(access.redeem(fresh)?.session)
        #expect(access.grant(session: session, bearer: nil)?.user == "alice")
        now.update { $0 += WebAccess.sessionSeconds }
        #expect(access.grant(session: session, bearer: nil) == nil, "a session outlived 12 hours")
        #expect(access.grant(session: "0", bearer: "0") == nil)
    }
}

/// The web's links, sessions and tokens in the reservation store: they
/// outlive a restart, and coordinators sharing a store share them (a link
/// printed by one signs in on another, once; `--revoke` on one ends them
/// on all); the store holds only their SHA-256.
@Suite(.serialized)
struct WebGrantStoreTests {
    @Test(arguments: Engine.available)
    func grantsAreSharedAndOutliveARestart(_ engine: Engine) async throws {
        let place = try await engine.place()
        let firstEngine = try place.open()
        _ = try ReservationStore(engine: firstEngine)
        let now = Shared(wallClock())
        let one = WebAccess(store: firstEngine, clock: { now.current })
        let two = WebAccess(store: try place.open(), clock: { now.current })

        let link = try one.link(for: "alice", admin: true)
        let (session, grant) = try #require(two.redeem(link), "a link made on one was not good on the other")
        #expect(grant.user == "alice" && grant.admin && grant.csrf?.count == 64)
        #expect(one.redeem(link) == nil, "a link signed in twice")
        #expect(one.grant(session: session, bearer: nil)?.csrf == grant.csrf, "the session is not the same on both")
        let token = try two.token(for: "alice", admin: true)
        let bobs = try one.token(for: "bob", admin: false)

        // A restart: a new WebAccess (a new engine) on the same store.
        let restarted = WebAccess(store: try place.open(), clock: { now.current })
        #expect(restarted.grant(session: session, bearer: nil)?.user == "alice", "a restart signed alice out")
        #expect(restarted.grant(session: nil, bearer: token)?.user == "alice")
        let rows = try firstEngine.withSession { try $0.query("SELECT secret_sha256 FROM web_grants") }.compactMap { $0[0].text }
        #expect(rows.count == 3 && !rows.contains(session) && !rows.contains(token) && rows.allSatisfy { $0.count == 64 },
                "the store holds the secrets themselves: \(rows)")

        // Revoked on one: gone on every one; bob's token stays.
        #expect(try one.revoke("alice") == 2)
        #expect(two.grant(session: session, bearer: nil) == nil && restarted.grant(session: nil, bearer: token) == nil)
        #expect(two.grant(session: nil, bearer: bobs)?.user == "bob")
        // Logout ends one session, and time ends the rest.
        let second = try #require(one.redeem(try two.link(for: "alice", admin: false))).session
        let third = try #require(one.redeem(try two.link(for: "alice", admin: false))).session
        two.endSession(second)
        #expect(one.grant(session: second, bearer: nil) == nil && one.grant(session: third, bearer: nil) != nil)
        now.update { $0 += WebAccess.sessionSeconds + 1 }
        #expect(one.grant(session: third, bearer: nil) == nil, "a session outlived 12 hours")
        // Garbage never reaches the store, and is nobody.
        for junk in ["", "x", "' OR 1=1 --", String(repeating: "g", count: 64), String(repeating: "a", count: 5000)] {
            #expect(one.grant(session: junk, bearer: junk) == nil && one.redeem(junk) == nil)
        }
    }

}
