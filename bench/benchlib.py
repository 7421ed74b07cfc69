"""bench/benchlib.py: the helpers the bench/ scripts share.

Each script (bench/calendar, console, coordinator, flash, http, netboot, tftp)
puts its own folder first on sys.path and imports this module. Messages start
with the script's name (`bench/console: …`), taken from the running script.
Every process started through these helpers is stopped by its PID.
"""
import os, select, shutil, socket, statistics, subprocess, sys, time, tty

HERE = os.path.dirname(os.path.abspath(__file__))  # bench/
ROOT = os.path.dirname(HERE)  # the repository
MIB = 1 << 20
CLK = os.sysconf("SC_CLK_TCK")
PAYLOAD = bytes(range(ord("A"), ord("Z") + 1))  # no byte of a "[provisioner] …" notice is uppercase A-Z

_main = getattr(sys.modules.get("__main__"), "__file__", None)
PROGRAM = f"bench/{os.path.basename(_main)}" if _main else "bench"  # e.g. "bench/console"


# Messages, binaries and tools.

def fail(message):
    """Exits with status 1 and `bench/NAME: message` on stderr."""
    sys.exit(f"{PROGRAM}: {message}")


def warn(message):
    """Prints `bench/NAME: message` on stderr and goes on."""
    print(f"{PROGRAM}: {message}", file=sys.stderr)


def release_binary(product):
    """The path of a release build of `product` (swift build -c release) in this repository."""
    return os.path.join(ROOT, ".build", "release", product)


def require_binary(path, build):
    """Fails unless `path` exists, telling how to build it (`build`, e.g. "swift build -c release")."""
    if not os.path.exists(path):
        fail(f"{path} not found: {build} first")


def require_tools(tools, what, sbin=False):
    """Fails with `TOOL WHAT` (e.g. "socat is not installed (…)") for the first of `tools` not on PATH
    (with sbin=True: that find_binary does not find)."""
    for tool in tools:
        if not (find_binary(tool) if sbin else shutil.which(tool)):
            fail(f"{tool} {what}")


def find_binary(name, candidates=()):
    """The first of `candidates` that exists, else `name` on PATH, else /usr/sbin/NAME (not on every
    user's PATH); None when there is none."""
    for path in candidates:
        if os.path.exists(path):
            return path
    found = shutil.which(name)
    if found:
        return found
    sbin = os.path.join("/usr/sbin", name)
    return sbin if os.path.exists(sbin) else None


# Ports and processes.

def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 that is free now: TCP, or UDP with kind=socket.SOCK_DGRAM."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, timeout=10):
    """Waits until 127.0.0.1:port takes a TCP connection: True, or False once `process` has ended or
    `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def read_text(path):
    """A log file's text so far (bytes that are not UTF-8 replaced)."""
    with open(path, errors="replace") as f:
        return f.read()


def start_listening(argv, log_path, what, timeout=20, **popen):
    """Starts `argv` with its stderr (and stdout, unless `popen` names one) in `log_path` and waits for
    its "ssh: listening on" line; fails with the log if it ends or the line has not come in `timeout` s."""
    with open(log_path, "w") as log:
        popen.setdefault("stdout", log)
        process = subprocess.Popen(argv, stderr=log, **popen)
    deadline = time.monotonic() + timeout
    while "ssh: listening on" not in read_text(log_path):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, what)
            fail(f"{what} did not start:\n{read_text(log_path)}")
        time.sleep(0.05)
    return process


def stop(process, name, timeout=5):
    """Ends a process we started, by its PID: SIGTERM, then SIGKILL (with a warning) after `timeout` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            warn(f"{name} (pid {process.pid}) ignored SIGTERM; killing it")
            process.kill()
            process.wait()


def stop_all(started):
    """Calls the stop functions in `started` (appended as things were started), the last one first."""
    for stop_one in reversed(started):
        stop_one()


def cpu_seconds(pid, children=False):
    """CPU seconds of a process from /proc: utime + stime of all its threads; with children=True also
    cutime + cstime, the children it has reaped (sshd's per-connection ones, tftpd's per-transfer ones)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15 if children else 13]) / CLK


def status_kib(pid, key):
    """A KiB figure of /proc/PID/status (VmRSS, VmHWM, RssAnon, …); 0 when the line is missing."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# Figures and tables.

def percentile(values, fraction):
    """The value at index int(fraction * n) of the sorted values (the last one at most): p99 is
    percentile(values, 0.99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median_p99(values):
    """(median, p99) of the values."""
    return statistics.median(values), percentile(values, 0.99)


def print_header(header):
    """Prints a Markdown table's header line and the dashes below it."""
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|", flush=True)


def verdict(met):
    """The `met` column of a row: yes, NO, or empty when the row has no goal (met is None)."""
    return "" if met is None else ("yes" if met else "NO")


# SSH, consoles and the agent.

def ssh_keygen(path, comment):
    """Makes an ed25519 key pair with no passphrase at `path` (and path.pub); returns path."""
    result = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        fail(f"ssh-keygen -f {path} failed: {result.stderr.strip()}")
    return path


def ssh_options(key):
    """OpenSSH client options for a bench login: only `key`, no prompt, no known_hosts, errors only."""
    return ["-i", key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def agent_yaml(port, board, device, ssh_keys="authorized_keys: authorized_keys"):
    """An agent config: SSH on 127.0.0.1:port (`ssh_keys`: the rest of its ssh block), TFTP and HTTP on
    free ports, and one board whose serial line is `device` and whose power commands do nothing."""
    return f"""agent:
  name: bench
  data_dir: data
  ssh: {{ listen: "127.0.0.1:{port}", {ssh_keys} }}
  tftp: {{ listen: "127.0.0.1:0" }}
  http: {{ listen: "127.0.0.1:0" }}
boards:
  - name: {board}
    serial: {{ device: {device} }}
    power: {{ type: command, on: "true", off: "true", status: "true" }}
"""


class PtyPair:
    """socat joining two ptys: `board` (what the agent opens) and `bench` (where the bench writes)."""

    def __init__(self, work, name):
        self.board = os.path.join(work, name + ".board")
        self.bench = os.path.join(work, name + ".bench")
        self.process = subprocess.Popen(["socat", "-d", f"pty,link={self.board},rawer", f"pty,link={self.bench},rawer"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not (os.path.exists(self.board) and os.path.exists(self.bench)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                fail("socat made no pty pair")
            time.sleep(0.02)
        self.fd = os.open(self.bench, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def write(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def stop(self):
        os.close(self.fd)
        stop(self.process, "socat")


class Console:
    """An attached `ssh -tt … console`: its stdout read by the bench into `data` without blocking, its
    stdin held open (EOF would detach it)."""

    def __init__(self, argv):
        self.start = time.perf_counter()
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.fd = self.process.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.data = bytearray()
        self.first_byte = None  # seconds from start until the first byte of stdout

    def read_some(self, timeout=None):
        """Reads what is there (waiting up to `timeout` s for it, when given); the number of bytes."""
        if timeout is not None:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return 0
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return 0
        if not chunk:
            self.process.wait(5)
            raise EOFError(f"ssh (pid {self.process.pid}) ended with {self.process.returncode}: "
                           f"{self.process.stderr.read().decode(errors='replace').strip()} (stdout {bytes(self.data[-200:])!r})")
        if self.first_byte is None:
            self.first_byte = time.perf_counter() - self.start
        self.data += chunk
        return len(chunk)

    def take(self, byte, timeout=10):
        """Waits for `byte` in what was read, then drops what was read up to it."""
        deadline = time.monotonic() + timeout
        while byte not in self.data:
            if time.monotonic() > deadline:
                fail(f"byte {byte!r} did not arrive within {timeout} s")
            self.read_some(1)
        del self.data[:self.data.index(byte) + 1]

    def stop(self):
        stop(self.process, "ssh")
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


def byte_latencies(pair, read_one, count):
    """Seconds from one PAYLOAD byte written into `pair` until `read_one(byte)` returned, `count` times in turn."""
    samples = []
    for index in range(count):
        byte = PAYLOAD[index % len(PAYLOAD):][:1]
        start = time.perf_counter()
        pair.write(byte)
        read_one(byte)
        samples.append(time.perf_counter() - start)
    return samples


# nginx, the peer web server.

def write_nginx_conf(work, port, server, workers="1", connections=64, keepalive_requests=None):
    """Writes WORK/nginx.conf and returns its path: nginx in the foreground on 127.0.0.1:PORT with
    sendfile on and no access log, its pid, error log and temp folders in WORK; `server` is the
    body of the server block (root or locations). Run it with nginx_argv."""
    temp = os.path.join(work, "nginx-tmp")
    os.makedirs(temp, exist_ok=True)
    keepalive = f"\n    keepalive_requests {keepalive_requests};" if keepalive_requests else ""
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""daemon off;
master_process on;
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;{keepalive}
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        {server}
    }}
}}
""")
    return path


def nginx_argv(nginx, work, conf):
    """The command line that runs `nginx` with `conf` (from write_nginx_conf), every file in `work`."""
    return [nginx, "-p", work, "-c", conf, "-e", f"{work}/nginx-error.log"]
