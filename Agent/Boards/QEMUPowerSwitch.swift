#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentCore
import Logging
import Synchronization
import SystemSupport

/// The power switch of a virtual board (TESTING.md): QEMU with real U-Boot
/// as firmware, driven over QMP at `DATA_DIR/run/BOARD.qmp`.
///
/// `powerOn` starts QEMU paused (`-S`) with its serial on a pty, links the
/// board's `serial.device` path to that pty, waits until the console has
/// opened it (and QEMU has noticed, which it checks once a second), then
/// sends `cont`: no boot output is lost. `powerOff` sends `quit` (SIGKILL if
/// QEMU lingers); `cycle` resets a running board (`system_reset`). A QEMU that
/// ends on its own is off; the link to its pty is removed then.
public final class QEMUPowerSwitch: PowerSwitch {
    private struct State {
        /// The QEMU process this switch started, while it runs.
        var pid: pid_t?
        /// The pty `serial.device` links to while QEMU runs.
        var ptyPath: String?
    }

    public let name: String
    public let qemu: BoardConfig.QEMU
    public let serialDevice: String
    public let cycleDelay: Double
    public let qmpPath: String
    /// QEMU's own messages (stdout and stderr).
    public let qemuLogPath: String
    private let console: SerialConsole?
    private let logger: Logger
    private let state = Mutex(State())
    /// Held for a whole power action, so two never interleave.
    private let operation = Mutex(())

    /// - Parameter console: the board's console, to wait for it to open the
    ///   pty before `cont`; without one the switch waits 1.1 s.
    public init(name: String, qemu: BoardConfig.QEMU, serialDevice: String, dataDirectory: String,
                cycleDelay: Double = 1, console: SerialConsole?, logger: Logger) {
        self.name = name
        self.qemu = qemu
        self.serialDevice = serialDevice
        self.cycleDelay = cycleDelay
        qmpPath = dataDirectory + "/run/" + name + ".qmp"
        qemuLogPath = dataDirectory + "/logs/" + name + ".qemu.log"
        self.console = console
        self.logger = logger
    }

    /// The running QEMU's process ID.
    public var processID: Int32? { state.withLock { $0.pid } }

    public func powerOn() throws {
        try operation.withLock { _ in try start() }
    }

    public func powerOff() throws {
        operation.withLock { _ in stopQEMU() }
    }

    public func cycle() throws {
        try operation.withLock { _ in
            if processID != nil, let client = try? QMPClient(path: qmpPath) {
                try client.execute("system_reset")
                if !Self.isRunning(client) { try client.execute("cont") }
                return
            }
            stopQEMU()
            sleepSeconds(cycleDelay)
            try start()
        }
    }

    public func status() throws -> PowerState {
        guard processID != nil else { return .off }
        guard let client = try? QMPClient(path: qmpPath) else {
            return processID == nil ? .off : .unknown
        }
        return Self.isRunning(client) ? .on : .off
    }

    private static func isRunning(_ client: QMPClient) -> Bool {
        (try? client.execute("query-status", returning: QMPStatus.self))?.running ?? false
    }

    // MARK: Starting

    /// The command line, without the QMP and serial options added at start.
    public var arguments: [String] {
        var arguments: [String]
        switch qemu.arch {
        case "x86":
            // No VGA: nobody sees it (-display none), and U-Boot's video
            // start (it runs the VGA BIOS) hung now and then, after
            // "Loading Environment", under TCG on a busy host (about 1 boot
            // in 70 with both cores loaded); without it U-Boot goes on at once.
            arguments = ["qemu-system-x86_64", "-M", "pc", "-vga", "none"]
        default:
            arguments = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"]
        }
        arguments += ["-m", qemu.memory, "-bios", qemu.firmware, "-name", name,
                      "-display", "none", "-monitor", "none", "-parallel", "none"]
        if qemu.net == "tap" {
            arguments += ["-netdev", "tap,id=n0,ifname=\(String("tap-\(name)".prefix(15))),script=no,downscript=no"]
        } else {
            var netdev = "user,id=n0"
            for port in qemu.forward {
                netdev += ",hostfwd=tcp:127.0.0.1:\(qemu.forwardHostPorts[port] ?? port)-:\(port)"
            }
            arguments += ["-netdev", netdev]
        }
        arguments += ["-device", "virtio-net-pci,netdev=n0,romfile="]
        if let disk = qemu.disk {
            arguments += ["-drive", "file=\(disk),format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0"]
        }
        return arguments + qemu.extraArgs
    }

    private func start() throws {
        if let pid = processID {
            if let client = try? QMPClient(path: qmpPath) {
                // Already on; a QEMU left paused by a failed start is resumed.
                if !Self.isRunning(client) { try client.execute("cont") }
                return
            }
            // No answer on QMP: QEMU is ending (killed, crashed) and not yet
            // reaped. Once it is, it starts anew.
            guard waitForExit(pid, timeout: 5) else {
                throw BoardError("power on: QEMU (pid \(pid)) runs but does not answer on \(qmpPath)")
            }
        }
        try makeDirectories(parentFolder(qmpPath))
        try makeDirectories(parentFolder(qemuLogPath))
        try makeDirectories(parentFolder(serialDevice))
        quitOrphan()
        try checkSerialPath()
        if let disk = qemu.disk { try createDisk(disk) }
        guard let executable = findExecutable(arguments[0]) else {
            throw BoardError("power on: \(arguments[0]) is not installed (Debian package qemu-system-arm or qemu-system-x86)")
        }
        let command = [executable] + arguments.dropFirst()
            + ["-S", "-chardev", "pty,id=s0", "-serial", "chardev:s0", "-qmp", "unix:\(qmpPath),server=on,wait=off"]
        let log = try systemCall("open \(qemuLogPath)") {
            open(qemuLogPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        }
        defer { close(log) }
        let pid = try Subprocess.spawn(command, stdout: log, stderr: log)
        logger.info("power \(name): started QEMU (pid \(pid)): \(command.joined(separator: " "))")
        state.withLock { $0.pid = pid }
        do {
            try startThread(named: "qemu-\(name)") { [self] in reap(pid) }
        } catch {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            state.withLock { $0.pid = nil }
            throw error
        }
        do {
            let client = try connect(pid: pid)
            let pty = try ptyPath(client)
            let openings = console?.openings ?? 0
            try link(to: pty)
            state.withLock { if $0.pid == pid { $0.ptyPath = pty } }
            if let console, !console.waitUntilOpened(after: openings, timeout: 10) {
                throw BoardError("the console did not open \(serialDevice) (→ \(pty)) within 10 s")
            }
            sleepSeconds(1.1)  // QEMU looks for a reader on its pty once a second
            try client.execute("cont")
        } catch {
            kill(pid, SIGKILL)
            let tail = lastLines(of: qemuLogPath, count: 3)
            throw BoardError("power on: \(error)\(tail.isEmpty ? "" : " (QEMU: \(tail))")")
        }
    }

    /// Connects to QMP as soon as QEMU listens (within 10 s).
    private func connect(pid: pid_t) throws -> QMPClient {
        let deadline = monotonicSeconds() + 10
        while true {
            do {
                return try QMPClient(path: qmpPath)
            } catch {
                guard processID == pid else { throw BoardError("QEMU ended at start") }
                guard monotonicSeconds() < deadline else { throw BoardError("no QMP socket at \(qmpPath) within 10 s: \(error)") }
                usleep(20_000)
            }
        }
    }

    private func ptyPath(_ client: QMPClient) throws -> String {
        for device in try client.execute("query-chardev", returning: [QMPChardev].self) where device.label == "s0" {
            if let filename = device.filename, filename.hasPrefix("pty:") {
                return String(filename.dropFirst(4))
            }
        }
        throw BoardError("QMP query-chardev names no pty for the serial port")
    }

    /// `serial.device` must be free or a link the agent made earlier.
    private func checkSerialPath() throws {
        var info = stat()
        guard lstat(serialDevice, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFLNK else {
            throw BoardError("power on: serial.device \(serialDevice) exists and is not a symbolic link; for a virtual board the agent links it to QEMU's pty")
        }
        unlink(serialDevice)
    }

    /// Points `serial.device` at `pty`, atomically (a link beside it, renamed).
    private func link(to pty: String) throws {
        let temporary = serialDevice + ".new-\(getpid())"
        unlink(temporary)
        try systemCall("symlink \(temporary)") { symlink(pty, temporary) }
        do {
            try systemCall("rename \(temporary) to \(serialDevice)") { rename(temporary, serialDevice) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Removes `serial.device` when it is still the link to `pty`.
    private func removeLink(ifPointingTo pty: String?) {
        guard let pty else { return }
        var target = [CChar](repeating: 0, count: 4096)
        let count = readlink(serialDevice, &target, target.count - 1)
        guard count > 0 else { return }
        if String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) == pty {
            unlink(serialDevice)
        }
    }

    private func createDisk(_ path: String) throws {
        guard access(path, F_OK) != 0 else { return }
        let size = qemu.diskSize.flatMap(parseByteSize) ?? 1 << 30
        try makeDirectories(parentFolder(path))
        let fd = try systemCall("create \(path)") { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640) }
        defer { close(fd) }
        try systemCall("ftruncate \(path)") { ftruncate(fd, off_t(size)) }
        logger.info("power \(name): created the disk image \(path) (\(size) bytes, sparse)")
    }

    // MARK: Adopting

    /// A QEMU that an earlier run of the agent started and that still runs
    /// (the agent was restarted, or died) is taken over as it is, never
    /// restarted: a board does not power-cycle because the software beside
    /// it did. Its console carries on through the same pty, `status` reads
    /// it over QMP, `off` quits it. Found by its QMP socket, and its process
    /// by the `-qmp` argument the agent gave it. Returns its PID, or nil.
    @discardableResult
    public func adoptRunning() -> pid_t? {
        operation.withLock { _ -> pid_t? in
            guard processID == nil, let client = try? QMPClient(path: qmpPath, timeout: 2) else { return nil }
            guard let pid = Self.processID(withArgument: "unix:\(qmpPath),server=on,wait=off") else {
                logger.warning("power \(name): a QEMU answers on \(qmpPath), but no process of it was found; it is left alone")
                return nil
            }
            let pty: String
            do {
                pty = try ptyPath(client)
                try link(to: pty)
            } catch {
                logger.warning("power \(name): cannot take over the QEMU left running (pid \(pid)): \(error)")
                return nil
            }
            state.withLock { $0 = State(pid: pid, ptyPath: pty) }
            do {
                try startThread(named: "qemu-\(name)") { [self] in watchAdopted(pid) }
            } catch {
                logger.warning("power \(name): cannot watch the QEMU left running (pid \(pid)): \(error)")
            }
            let running = Self.isRunning(client)
            logger.notice("power \(name): took over QEMU (pid \(pid), \(running ? "running" : "paused")) left by an earlier run of the agent; its console carries on")
            return pid
        }
    }

    /// The process whose command line holds `argument`, from /proc.
    static func processID(withArgument argument: String) -> pid_t? {
        guard let proc = opendir("/proc") else { return nil }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), pid > 0 else { continue }
            let words = readSmallFile("/proc/\(name)/cmdline").split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if words.contains(argument) { return pid }
        }
        return nil
    }

    /// Waits for an adopted QEMU (not a child of this agent) to end, and cleans up.
    private func watchAdopted(_ pid: pid_t) {
        while kill(pid, 0) == 0 || errno == EPERM {
            if state.withLock({ $0.pid != pid }) { return }
            usleep(100_000)
        }
        let pty = state.withLock { state -> String? in
            guard state.pid == pid else { return nil }
            defer { state.pid = nil; state.ptyPath = nil }
            return state.ptyPath
        }
        removeLink(ifPointingTo: pty)
        logger.notice("power \(name): QEMU (pid \(pid)) ended")
    }

    /// A QEMU from an earlier run of the agent still on this QMP socket is quit.
    private func quitOrphan() {
        if let client = try? QMPClient(path: qmpPath, timeout: 2) {
            logger.notice("power \(name): quitting a QEMU left running at \(qmpPath)")
            _ = try? client.execute("quit")
            let deadline = monotonicSeconds() + 5
            while monotonicSeconds() < deadline, (try? QMPClient(path: qmpPath, timeout: 1)) != nil { usleep(50_000) }
        }
        unlink(qmpPath)
    }

    // MARK: Stopping

    private func stopQEMU() {
        guard let pid = processID else { return }
        if let client = try? QMPClient(path: qmpPath, timeout: 2) {
            _ = try? client.execute("quit")
        }
        if !waitForExit(pid, timeout: 5) {
            logger.warning("power \(name): QEMU (pid \(pid)) did not quit; killing it")
            kill(pid, SIGKILL)
            _ = waitForExit(pid, timeout: 5)
        }
    }

    private func waitForExit(_ pid: pid_t, timeout: Double) -> Bool {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if state.withLock({ $0.pid != pid }) { return true }
            usleep(10_000)
        }
        return false
    }

    /// Waits for QEMU to end (on its own, killed, or quit) and cleans up.
    private func reap(_ pid: pid_t) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let pty = state.withLock { state -> String? in
            guard state.pid == pid else { return nil }
            defer { state.pid = nil; state.ptyPath = nil }
            return state.ptyPath
        }
        removeLink(ifPointingTo: pty)
        let how = (status & 0x7f) == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(status & 0x7f)"
        logger.notice("power \(name): QEMU (pid \(pid)) \(how)")
    }
}

func parentFolder(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// A program's path from PATH (and the usual system folders), or nil.
func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? ""
    for folder in path.split(separator: ":") + ["/usr/local/bin", "/usr/bin", "/bin"] {
        let candidate = "\(folder)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// The last `count` non-empty lines of a text file, joined by " / ".
func lastLines(of path: String, count: Int) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { return "" }
    let length = min(Int(info.st_size), 4096)
    var bytes = [UInt8](repeating: 0, count: length)
    let read = pread(fd, &bytes, length, off_t(Int(info.st_size) - length))
    guard read > 0 else { return "" }
    let lines = String(decoding: bytes[..<read], as: UTF8.self).split(separator: "\n").suffix(count)
    return lines.joined(separator: " / ")
}

/// The first 64 KiB of a file that may not know its size (`/proc`); empty when unreadable.
func readSmallFile(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 65_536 {
        let count = read(fd, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += chunk[..<count]
    }
    return bytes
}
