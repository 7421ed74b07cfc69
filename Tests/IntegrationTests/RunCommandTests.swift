import Foundation
import ProvisionerTesting
import Testing

/// `run BOARD -- CMD` against a real shell on a pseudo-terminal: socat joins
/// the board's serial line (a pty the agent opens) to `sh -i` on a pty of
/// its own, as a booted board's console is. The virtual-board test
/// (RunOnVirtualBoardTests) does the same with a real kernel.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat"), "needs OpenSSH and socat"))
struct RunCommandTests {
    /// A shell behind the board's serial line; `login` puts a login and
    /// password prompt in front of it (root / secret).
    final class ShellBoard: Sendable {
        let folder: TemporaryDirectory
        let socat: RunningProcess
        init(login: Bool = false) async throws {
            folder = try TemporaryDirectory(prefix: "shell-board")
            // As getty does, Ctrl-C or an empty line at the prompt brings a new prompt.
            try folder.createFile("login.sh", text: """
                trap 'echo; exec sh "$0"' INT
                user=
                while [ -z "$user" ]; do printf 'board login: '; read user; done
                printf 'Password: '; stty -echo; read password; stty echo; echo
                if [ "$user" = root ] && [ "$password" = secret ]; then exec sh -i; fi
                echo 'Login incorrect'; sleep 1; exec sh "$0"

                """)
            let program = login ? "sh \(folder.path("login.sh"))" : "sh -i"
            socat = try RunningProcess("socat", ["pty,link=\(folder.path("tty")),rawer", "EXEC:\(program),pty,setsid,ctty,stderr,sane"],
                                       environment: ["PS1": "~ # ", "PATH": "/usr/bin:/bin", "HOME": "/", "TERM": "dumb"])
            #expect(await eventually { FileManager.default.fileExists(atPath: self.folder.path("tty")) })
        }
        deinit { socat.signal(SIGKILL) }

        func yaml(password: Bool = false) -> String {
            """
              - name: b1
                serial: { device: \(folder.path("tty")) }
                power: { type: command, on: "true", off: "true" }
            \(password ? "    uboot: { linux: { login: root, password_file: \(folder.path("password")) } }" : "")
            """
        }
    }

    func served(_ board: ShellBoard, password: Bool = false) async throws -> ServedAgent {
        let agent = try await ServedAgent(prefix: "run", users: ["user", "other"], boards: board.yaml(password: password))
        #expect(try await agent.ssh("reserve", "b1").exitCode == 0)
        #expect(await eventually { agent.process.stderr.contains("console b1: opened") }, "\(agent.process.stderr)")
        return agent
    }

    @Test func theCommandsOutputAndExitStatusAreTheSessions() async throws {
        let board = try await ShellBoard()
        let agent = try await served(board)
        let uname = try await agent.ssh("run", "b1", "--", "uname", "-s")
        #expect(uname.exitCode == 0 && uname.stdout == "Linux\n", "\(uname)")
        let seven = try await agent.ssh("run", "b1", "--", "echo", "partial;", "exit", "7")
        #expect(seven.exitCode == 7 && seven.stdout == "partial\n", "a subshell: \(seven)")
        let noNewline = try await agent.ssh("run", "b1", "--", "printf", "abc")
        #expect(noNewline.exitCode == 0 && noNewline.stdout == "abc", "\(noNewline)")
        let lines = try await agent.ssh("run", "b1", "--", "seq", "1", "2000")
        #expect(lines.stdout == (1...2000).map { "\($0)\n" }.joined(), "\(lines.stdout.suffix(200))")
        // Kernel lines in the middle of the output are not the command's.
        let kernel = try await agent.ssh("run", "b1", "--", "echo", "one;", "echo", "\"'[   12.345678] usb 1-1: new device'\"", ";", "echo", "two")
        #expect(kernel.stdout == "one\ntwo\n", "\(kernel)")
        // The shell is the board's: state carries on between runs.
        #expect(try await agent.ssh("run", "b1", "--", "echo", "kept", ">", "/tmp/provisioner-run-\(agent.port)").exitCode == 0)
        let kept = try await agent.ssh("run", "b1", "--", "cat", "/tmp/provisioner-run-\(agent.port)", ";", "rm", "/tmp/provisioner-run-\(agent.port)")
        #expect(kept.stdout == "kept\n", "\(kept)")
        let audit = try await agent.ssh("audit")
        #expect(audit.stdout.contains("run") && audit.stdout.contains("uname -s"), "\(audit.stdout)")
    }

    @Test func aTimeoutEndsWith124AndTheOutputSoFarAndTheShellComesBack() async throws {
        let board = try await ShellBoard()
        let agent = try await served(board)
        let slow = try await agent.ssh("run", "b1", "--timeout", "2s", "--", "echo", "started;", "sleep", "30")
        #expect(slow.exitCode == 124, "\(slow)")
        #expect(slow.stdout == "started\n", "\(slow)")
        #expect(slow.stderr == "run: b1: no end within 2s; Ctrl-C was sent to the board\n", "\(slow.stderr)")
        let next = try await agent.ssh("run", "b1", "--", "echo", "back")
        #expect(next.exitCode == 0 && next.stdout == "back\n", "the shell is at its prompt again: \(next)")
    }

    @Test func aShellThatIsBusyGetsCtrlCFirst() async throws {
        let board = try await ShellBoard()
        let agent = try await served(board)
        // Someone left `cat` reading the console.
        let console = try agent.console("b1")
        try await console.expect("b1")
        console.send("cat\r")
        try await Task.sleep(for: .milliseconds(500))
        console.send("\u{1d}.")
        let result = try await agent.ssh("run", "b1", "--", "echo", "ok")
        #expect(result.exitCode == 0 && result.stdout == "ok\n", "\(result)")
    }

    @Test func aLoginPromptIsAnsweredFromTheProfile() async throws {
        let board = try await ShellBoard(login: true)
        try board.folder.createFile("password", text: "secret\n")
        let agent = try await served(board, password: true)
        let result = try await agent.ssh("run", "b1", "--", "id", "-un", ">/dev/null;", "echo", "in")
        #expect(result.exitCode == 0 && result.stdout == "in\n", "\(result)")
        let again = try await agent.ssh("run", "b1", "--", "echo", "still")
        #expect(again.exitCode == 0 && again.stdout == "still\n", "logged in already: \(again)")
    }

    @Test func onlyTheHolderRunsAndTheWordsAreChecked() async throws {
        let board = try await ShellBoard()
        let agent = try await served(board)
        let other = try await agent.ssh(as: "other", "run", "b1", "--", "echo", "hi")
        #expect(other.exitCode == 3, "\(other)")
        let empty = try await agent.ssh("run", "b1")
        #expect(empty.exitCode == 2 && empty.stderr.hasPrefix("run: give the command after --"), "\(empty)")
        let badTimeout = try await agent.ssh("run", "b1", "--timeout", "soon", "--", "true")
        #expect(badTimeout.exitCode == 2, "\(badTimeout)")
    }
}
