"""Traffic inside the lab's VMs for the end-to-end tests: ICMP counters and pings, forged
sources, and small TCP tools run in a VM's namespace (an echo listener, a one-shot connect
that tells connected from refused from timed out, a line stream timestamped per reply)."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import threading
import time
from collections.abc import Iterator

from alcor.lab.vm import Vm

CONNECTED, REFUSED, TIMEOUT, SILENT = "connected", "refused", "timeout", "silent"

# Echo every line back, on each port given (IPv4 and IPv6), one thread per connection.
_LISTEN = """
import socket, sys, threading
def echo(conn):
    with conn:
        for line in conn.makefile("rb"):
            conn.sendall(line)
def serve(sock):
    while True:
        threading.Thread(target=echo, args=(sock.accept()[0],), daemon=True).start()
socks = []
for port in sys.argv[1:]:
    try:  # IPv4 and IPv6 on one socket where the VM has IPv6
        s = socket.create_server(("", int(port)), family=socket.AF_INET6, dualstack_ipv6=True)
    except OSError:
        s = socket.create_server(("", int(port)))
    socks.append(s)
print("ready", flush=True)
for s in socks:
    threading.Thread(target=serve, args=(s,)).start()
"""

# Connect (from an optional source address), send a line, await its echo.
_CONNECT = """
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
if len(sys.argv) > 4:
    s.bind((sys.argv[4], 0))
s.settimeout(timeout)
try:
    s.connect((host, port))
except ConnectionRefusedError:
    print("refused")
except TimeoutError:
    print("timeout")
except OSError as e:
    print("unreachable", e.errno)
else:
    try:
        s.sendall(b"probe\\n")
        print("connected" if s.recv(64) == b"probe\\n" else "silent")
    except (TimeoutError, OSError):
        print("silent")
"""

# One connection; a line every `interval` s; prints "reply" for each line echoed back.
_STREAM = """
import select, socket, sys, time
host, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=3)
s.setblocking(False)
print("connected", flush=True)
sent, buf, due = 0, b"", time.monotonic()
while True:
    now = time.monotonic()
    if now >= due:
        try:
            s.send(b"%d\\n" % sent)
        except BlockingIOError:
            pass
        sent, due = sent + 1, due + interval
    if select.select([s], [], [], max(0.0, due - time.monotonic()))[0]:
        data = s.recv(4096)
        if not data:
            print("closed", flush=True)
            break
        buf += data
        while b"\\n" in buf:
            _, buf = buf.split(b"\\n", 1)
            print("reply", flush=True)
"""


def in_echos(vm: Vm) -> int:
    """ICMP echo requests the VM's kernel received (its netns's /proc/net/snmp)."""
    lines = [
        ln.split() for ln in vm.x("cat", "/proc/net/snmp").splitlines() if ln.startswith("Icmp:")
    ]
    return int(lines[1][lines[0].index("InEchos")])


def in_echos6(vm: Vm) -> int:
    """ICMPv6 echo requests the VM's kernel received (/proc/net/snmp6)."""
    for line in vm.x("cat", "/proc/net/snmp6").splitlines():
        name, _, value = line.partition(" ")
        if name == "Icmp6InEchos":
            return int(value)
    raise AssertionError("no Icmp6InEchos counter")


def ping_bg(vm: Vm, target: str, count: int, interval: float = 0.02) -> subprocess.Popen[str]:
    """A continuous ping in the background (collect with `ping_result`)."""
    cmd = ["ping", "-c", str(count), "-i", str(interval), "-W", "1", target]
    return subprocess.Popen(
        ["ip", "netns", "exec", vm.ns, *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def ping_result(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@contextlib.contextmanager
def forged(
    src: Vm, dst: Vm, dst_ip: str, forged_ip: str = "", forged_mac: str = ""
) -> Iterator[None]:
    """`src` wearing a forged source address and/or MAC, with a static ARP entry for `dst`
    (so packets really leave `src` whatever ARP does); all undone on exit."""
    if forged_mac:
        src.x("ip", "link", "set", "eth0", "address", forged_mac)
    if forged_ip:
        src.x("ip", "addr", "add", f"{forged_ip}/24", "dev", "eth0")
    try:
        src.x(
            "ip", "neigh", "replace", dst_ip, "lladdr", dst.mac, "dev", "eth0", "nud", "permanent"
        )
        yield
    finally:
        src.x("ip", "neigh", "del", dst_ip, "dev", "eth0", check=False)
        if forged_ip:
            src.x("ip", "addr", "del", f"{forged_ip}/24", "dev", "eth0", check=False)
        if forged_mac:
            src.x("ip", "link", "set", "eth0", "address", src.mac)


def forge_and_ping(src: Vm, dst: Vm, dst_ip: str, forged_ip: str = "", forged_mac: str = "") -> int:
    """Ping `dst` from `src` with a forged source; returns how many echo requests `dst`
    received."""
    before = in_echos(dst)
    with forged(src, dst, dst_ip, forged_ip, forged_mac):
        args = ["-I", forged_ip] if forged_ip else []
        src.x("ping", "-c", "3", "-i", "0.1", "-W", "1", *args, dst_ip, check=False)
        time.sleep(0.2)
    return in_echos(dst) - before


def _python(where: Vm | str, script: str, *args: object) -> list[str]:
    """Run `script` in a VM's namespace, or in the namespace named `where`."""
    ns = where if isinstance(where, str) else where.ns
    return ["ip", "netns", "exec", ns, "python3", "-c", script, *map(str, args)]


class Listener:
    """An echo server on `ports` in the VM or namespace (bound to every address of it);
    `stop()` ends it."""

    def __init__(self, vm: Vm | str, *ports: int) -> None:
        self.proc = subprocess.Popen(
            _python(vm, _LISTEN, *ports), stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise AssertionError(f"listener on {ports} in {vm} did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@contextlib.contextmanager
def listening(vm: Vm, *ports: int) -> Iterator[Listener]:
    listener = Listener(vm, *ports)
    try:
        yield listener
    finally:
        listener.stop()


def connect(vm: Vm | str, ip: str, port: int, timeout: float = 1.5, source: str = "") -> str:
    """One TCP connection from `vm` or a namespace (from `source` when given), with a line
    echoed back: CONNECTED, REFUSED, TIMEOUT (no SYN-ACK within `timeout`) or SILENT
    (connected, no echo)."""
    args = [ip, port, timeout, *([source] if source else [])]
    out = subprocess.run(
        _python(vm, _CONNECT, *args), capture_output=True, text=True, timeout=timeout + 10
    )
    return out.stdout.strip() or f"error: {out.stderr.strip()[-300:]}"


def wait_connect(vm: Vm, ip: str, port: int, want: str, deadline: float = 15.0) -> float:
    """Try connecting until the outcome is `want`; the seconds it took (fails after
    `deadline`, with the last outcome)."""
    start = time.monotonic()
    got = ""
    while time.monotonic() - start < deadline:
        got = connect(vm, ip, port, timeout=0.5)
        if got == want:
            return time.monotonic() - start
    raise AssertionError(
        f"{vm.name} -> {ip}:{port} still {got!r}, not {want!r}, after {deadline} s"
    )


class Stream:
    """A TCP connection from `vm` sending a line every `interval` s; `replies` holds the
    monotonic time of each echoed line."""

    def __init__(self, vm: Vm, ip: str, port: int, interval: float = 0.2) -> None:
        self.proc = subprocess.Popen(
            _python(vm, _STREAM, ip, port, interval), stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if first != "connected":
            self.stop()
            raise AssertionError(f"stream {vm.name} -> {ip}:{port} did not connect: {first!r}")
        self.replies: list[float] = []
        self.closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "reply":
                self.replies.append(time.monotonic())
            elif line.strip() == "closed":
                self.closed = True

    def flowing(self, within: float = 1.0) -> bool:
        """Whether a reply arrived in the last `within` seconds."""
        return bool(self.replies) and time.monotonic() - self.replies[-1] < within

    def max_gap(self, since: float) -> float:
        """The longest time without a reply between `since` and now."""
        times = [since, *(t for t in self.replies if t > since), time.monotonic()]
        return max(b - a for a, b in itertools.pairwise(times))

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@contextlib.contextmanager
def streaming(vm: Vm, ip: str, port: int) -> Iterator[Stream]:
    stream = Stream(vm, ip, port)
    try:
        yield stream
    finally:
        stream.stop()
