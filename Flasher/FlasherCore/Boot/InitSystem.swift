#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFlasherSystem
import SystemSupport

/// What the flasher does as PID 1 before and after the job: mounts the
/// kernel's file systems, takes the console, loads modules, brings the
/// network up, and at the end reboots, powers off, or gives a shell.
public struct InitSystem: Sendable {
    public let children = ChildProcesses()
    let busybox = "/bin/busybox"

    public init() {}

    /// Mounts /proc, /sys, /dev (devtmpfs) and /run, and reopens the console
    /// as stdin, stdout and stderr (a cpio made without root has no
    /// /dev/console node of its own).
    public func mountKernelFileSystems() {
        for (type, path) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev"), ("tmpfs", "/run"), ("tmpfs", "/tmp")] {
            _ = mkdir(path, 0o755)
            if mount(type, path, type, 0, nil) != 0 && errno != EBUSY {
                printError("provisioner: mount \(path): \(String(cString: strerror(errno)))\n")
            }
        }
        let console = open("/dev/console", O_RDWR | O_CLOEXEC)
        if console >= 0 {
            for fd in Int32(0)...2 { dup2(console, fd) }
            if console > 2 { close(console) }
        }
        setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1)
    }

    /// Loads the modules listed in /etc/modules (one path or name a line;
    /// `#` comments), in order: a path with finit_module(2), a name with
    /// busybox modprobe.
    public func loadModules(listedIn list: String = "/etc/modules", log: (String) -> Void) {
        guard let text = readText(list) else { return }
        for line in text.split(separator: "\n") {
            let entry = line.trimmed
            guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
            if entry.hasPrefix("/") {
                let fd = open(entry, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { log("module \(entry): \(String(cString: strerror(errno)))"); continue }
                if CFlasherSystem_finit_module(fd, "") != 0 && errno != EEXIST {
                    log("module \(entry): \(String(cString: strerror(errno)))")
                }
                close(fd)
            } else if children.run([busybox, "modprobe", entry]) != 0 {
                log("modprobe \(entry) failed")
            }
        }
    }

    /// Configures the network per `ip=`: waits up to `wait` seconds for an
    /// interface, then sets the address and route with busybox `ip`, or
    /// runs busybox `udhcpc`.
    public func bringUpNetwork(_ setup: NetworkSetup, wait: Double = 10, log: (String) -> Void) throws(FlasherError) {
        _ = children.run([busybox, "ip", "link", "set", "lo", "up"])
        let wanted: String?
        switch setup {
        case .none: return
        case .dhcp(let device): wanted = device
        case .manual(let address): wanted = address.device
        }
        let deadline = monotonicSeconds() + wait
        var device: String?
        while device == nil {
            let names = listDirectory("/sys/class/net").filter { $0 != "lo" }
            device = wanted.flatMap { names.contains($0) ? $0 : nil } ?? (wanted == nil ? names.first : nil)
            if device == nil {
                guard monotonicSeconds() < deadline else {
                    throw FlasherError(.network, wanted.map { "no network interface \($0)" } ?? "no network interface appeared within \(Int(wait)) s", code: ENODEV)
                }
                sleepSeconds(0.2)
            }
        }
        let name = device!
        guard children.run([busybox, "ip", "link", "set", name, "up"]) == 0 else {
            throw FlasherError(.network, "ip link set \(name) up failed")
        }
        switch setup {
        case .none: return
        case .manual(let address):
            if let hostname = address.hostname { _ = sethostname(hostname, hostname.utf8.count) }
            guard children.run([busybox, "ip", "addr", "add", "\(address.address)/\(address.prefixLength)", "dev", name]) == 0 else {
                throw FlasherError(.network, "ip addr add \(address.address)/\(address.prefixLength) dev \(name) failed")
            }
            if let gateway = address.gateway, children.run([busybox, "ip", "route", "add", "default", "via", gateway, "dev", name]) != 0 {
                throw FlasherError(.network, "ip route add default via \(gateway) failed")
            }
            log("network: \(name) \(address.address)/\(address.prefixLength)" + (address.gateway.map { " via \($0)" } ?? ""))
        case .dhcp:
            let script = "/run/udhcpc.script"
            try writeFile(script, contents: Self.dhcpScript, mode: 0o755)
            guard children.run([busybox, "udhcpc", "-i", name, "-n", "-q", "-f", "-t", "10", "-T", "2", "-s", script]) == 0 else {
                throw FlasherError(.network, "no DHCP lease on \(name)")
            }
            log("network: \(name) configured by DHCP")
        }
    }

    /// busybox udhcpc calls this with the lease in its environment.
    static let dhcpScript = """
        #!/bin/busybox sh
        case "$1" in
        deconfig) /bin/busybox ip addr flush dev "$interface"; /bin/busybox ip link set "$interface" up ;;
        bound|renew)
            /bin/busybox ip addr flush dev "$interface"
            /bin/busybox ip addr add "$ip/${mask:-24}" dev "$interface"
            for r in $router; do /bin/busybox ip route add default via "$r" dev "$interface"; break; done ;;
        esac
        exit 0

        """

    /// Syncs, then reboots or powers off; `stay` waits forever (reaping).
    public func finish(_ action: AfterAction, log: (String) -> Void) -> Never {
        sync()
        switch action {
        case .reboot:
            log("rebooting")
            _ = CFlasherSystem_reboot(0)
        case .poweroff:
            log("powering off")
            _ = CFlasherSystem_reboot(1)
        case .stay:
            log("staying up (provisioner.after=stay)")
        }
        idleForever()
    }

    /// After a failure: a shell on the console for inspection, started again
    /// whenever it exits; PID 1 never exits.
    public func rescueShell() -> Never {
        let environment = ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", "TERM=linux"]
        writeLine("provisioner: a shell for inspection; the board stays up until it is power-cycled")
        while true {
            // setsid -c: the console becomes the shell's controlling terminal (job control, ^C).
            let started = monotonicSeconds()
            let status = children.run([busybox, "setsid", "-c", "/bin/sh"], environment: environment)
            if status == nil || monotonicSeconds() - started < 1 {
                if children.run(["/bin/sh"], environment: environment) == nil { idleForever() }
            }
        }
    }

    public func idleForever() -> Never {
        while true {
            children.reapOrphans()
            sleepSeconds(1)
        }
    }
}

func writeFile(_ path: String, contents: String, mode: mode_t) throws(FlasherError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FlasherError(.boot, "create \(path)", code: errno) }
    defer { close(fd) }
    var text = contents
    let written = text.withUTF8 { write(fd, $0.baseAddress, $0.count) }
    guard written == contents.utf8.count else { throw FlasherError(.boot, "write \(path)", code: errno) }
}
