"""Part (e) of `benchmarks/dataplane.py`: neighbours on demand on real hosts.

A real `alcor server` (embedded SQLite + NATS) and a 3-host lab whose agents expire learnt
neighbours after 1 s without traffic (so that a destination becomes a miss again between two
samples). Not timed: 100 remote hosts registered (`alcor hosts import`, VTEPs in the
underlay range that nothing answers) and `--ports` ports bound to them on one network in
on-demand mode (`alcor:neighbor_resolution`), created by bulk POSTs, in no security group:
a group whose rules name itself as remote would make every host of its members hold its
whole address set, which is not what this part measures (README, "Huge networks").
Measured:

  join          a VM's port on h1 created in that network: the agent's part (host delta
                received -> flows acknowledged, from the port's provisioning timeline) and
                POST -> ACTIVE; goal <= 0.1 s (a preloaded network of 1M ports: 26 s,
                `--part b`)
  first packet  a datagram from VM a (h1) to VM b (h2) whose entry h1 does not hold (it
                expired): sendto() in a -> recvfrom() in b, with a's ARP entry for b static
                (the datagram itself is the miss: L2) and with a's ARP cache flushed (the ARP
                request is the miss, then the datagram); `FIRST_PACKETS` samples each (p99
                is their slowest), and the same datagram again 0.25 s later (cached) as
                the baseline; goal p50 <= 2 ms, p99 <= 10 ms. In turns with VM c (h3),
                whose agent asks over NATS only (`resolve_direct` off): the same measure
                without the direct resolve channel, in the same run (`over_nats`)
  10k learnt    10 VMs on h1 each ARP for 1,000 distinct addresses of the big network (the
                last 10,000 ports) at once (raw sockets, each VM at `SCAN_RATE`): first
                request -> 10,000 entries installed on h1 (the agent's counter of entries
                whose programming round completed: the flows themselves expire after IDLE
                without traffic, before a count of them could reach 10,000); goal <= 2 s.
                Why paced: the lab's userspace datapath reads each VIF through a packet
                socket whose buffer (net.core.rmem_default) holds ~280 such frames, so 1,000
                sent back to back lost ~70% before OVS saw them (the VIF's rx counter said
                1,000, its meter ~300); each VM asks at its VIF's miss rate (faster is
                what the meter is there to drop, beyond its burst). A slow machine still
                drops a few hundred: like a guest, each VM asks again, 1 s later, what
                was not answered (`ARP_RETRIES` rounds; `asked_again` counts them per
                round)
  moved         a streams a datagram every 1 ms to b; b's port is rebound to h3 (nothing
                plugged there): PUT returned -> the last datagram b still gets at its old
                host; goal <= 50 ms (5 moves, back and forth)
  scan          a VM on h1 ARPs for 65,536 addresses as fast as it can; meanwhile a DHCP
                exchange of another VM on h1 and a port's POST -> ACTIVE on h1, against the
                same measured before the scan; goal <= 2x
  netchange     the network's name and its subnet's dns_nameservers changed by PUT (5 each):
                PUT returned -> every change published (the change log's lag back to 0);
                what the compiler spends finding the network's hosts, during which it
                publishes nothing else; goal: nothing that grows with the network's ports
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from rich.console import Console

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.lab.vm import Vm
from benchmarks import stats
from tests.support.waiting import all_published

REMOTE_HOSTS = 100
NET = "10.96.0.0/12"  # room for 1M ports
IDLE = 1
MISS_RATE = 1000  # per VIF, and burst
# With ALCOR_TRACE_FIRST_PACKET=1 the server and the agents log their resolves at debug (only
# those), and each first packet's time is split at the stamps logged for its miss (`_trace`)
TRACE = os.environ.get("ALCOR_TRACE_FIRST_PACKET") == "1"
TRACE_STEPS = ("upcall", "agent", "nats_out", "server", "nats_back", "send_on", "delivery")
TRACE_LOG_LEVEL = "warning,alcor.agent.ondemand=debug,alcor.southbound.rpc=debug"
_AGENT_TRACE = re.compile(
    r"resolved 1 misses: packet-in ([\d.]+) asked ([\d.]+) answered ([\d.]+) sent on ([\d.]+)"
)
_SERVER_TRACE = re.compile(r"resolved 1 queries inline: came ([\d.]+) answered ([\d.]+)")
FIRST_PACKETS = 40  # samples of each first-packet measure (one per 3 s: the entry expires)
SCAN_RATE = MISS_RATE  # ARP requests per second of each of the 10 VMs learning 10k destinations
ARP_RETRIES = 2  # rounds re-asking what was not answered, 1 s apart (a guest asks 3 times)

# Runs inside a VM namespace: UDP sender/receiver stamping CLOCK_REALTIME, and raw ARP scans.
VM_TOOL = r"""
import socket, struct, sys, time
mode = sys.argv[1]
if mode == "recv":  # port, seconds[, count]: print "sent_at received_at" per datagram
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    s.settimeout(0.5)
    end = time.time() + float(sys.argv[3])
    left = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    while time.time() < end and left:
        try:
            data = s.recv(64)
        except socket.timeout:
            continue
        print(data.decode(), repr(time.time()), flush=True)
        left -= 1
elif mode == "send":  # ip, port, count, gap: datagrams carrying their send time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ip, port, count, gap = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    for _ in range(count):
        s.sendto(repr(time.time()).encode(), (ip, port))
        time.sleep(gap)
elif mode == "arp":  # src_ip, first target (int), count[, per second[, retries]]
    # ARP requests; with retries, those unanswered after RETRANS are asked again, as a
    # guest's kernel does (a frame the VIF's packet socket dropped is not a lost answer)
    src, first, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0  # 0: as fast as possible
    retries = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    RETRANS = 1.0
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind(("eth0", 0x0806))
    s.setsockopt(263, 23, 1)  # SOL_PACKET, PACKET_IGNORE_OUTGOING: not our own requests
    s.setblocking(False)
    mac = s.getsockname()[4]
    head = b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    spa = socket.inet_aton(src)
    answered = set()

    def drain():
        while True:
            try:
                frame = s.recv(128)
            except BlockingIOError:
                return
            if frame[20:22] == b"\x00\x02" and frame[38:42] == spa:  # a reply to us
                answered.add(struct.unpack("!I", frame[28:32])[0])

    def sweep(targets):
        start = time.monotonic()
        for i, target in enumerate(targets):
            if rate and i % 10 == 0:
                drain()
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
            s.send(head + mac + spa + b"\0" * 6 + struct.pack("!I", target))

    targets = range(first, first + count)
    sweep(targets)
    again = []  # how many each round asked again
    for _ in range(retries):
        end = time.monotonic() + RETRANS
        while time.monotonic() < end:
            drain()
            time.sleep(0.01)
        targets = [t for t in targets if t not in answered]
        again.append(len(targets))
        if targets:
            sweep(targets)
    print(*again, flush=True)
"""


class Bench:
    """The server, the lab and the API client of one run."""

    def __init__(self, prefix: str, console: Console) -> None:
        self.prefix = prefix
        self.console = console
        self.server = AlcorServer(extra_env={"ALCOR_LOG_LEVEL": TRACE_LOG_LEVEL} if TRACE else None)
        self.lab = Lab(prefix)
        self.http: httpx.Client | None = None
        self.tool = os.path.join(tempfile.mkdtemp(prefix="alcor-od-"), "vmtool.py")
        with open(self.tool, "w") as fh:
            fh.write(VM_TOOL)
        self.n = 0

    @property
    def api(self) -> httpx.Client:
        assert self.http is not None
        return self.http

    def up(self) -> None:
        self.server.start()
        lift_quotas(self.server.url)
        self.http = httpx.Client(base_url=self.server.url, timeout=300)
        with self._agent_env():
            self.lab.up(3, self.server.nats_url, credentials=self.server.credentials)
        self._all_alive()

    @contextlib.contextmanager
    def _agent_env(self, **extra: str) -> Iterator[None]:
        """The agents' settings of this part (`extra`: more), as their environment."""
        saved = dict(os.environ)
        os.environ.update(
            ALCOR_NEIGHBOR_IDLE_TIMEOUT=str(IDLE), ALCOR_MISS_RATE_LIMIT=str(MISS_RATE), **extra
        )
        if TRACE:
            os.environ["ALCOR_LOG_LEVEL"] = TRACE_LOG_LEVEL
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _all_alive(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            agents = self.api.get("/v2.0/agents").json()["agents"]
            if sum(a["alive"] for a in agents if a["host"] in self.lab.hosts) == 3:
                break
            time.sleep(0.2)

    def restart_agent(self, host: str, **extra: str) -> None:
        """`host`'s agent again, with `extra` settings (environment variables)."""
        self.lab.hosts[host].stop_agent()
        with self._agent_env(**extra):
            self.lab.hosts[host].start_agent(self.server.nats_url)
        self._all_alive()

    def down(self) -> None:
        if self.http is not None:
            self.http.close()
        self.lab.down()
        self.server.cleanup()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.api.post(path, json=body)
        resp.raise_for_status()
        return resp.json()

    def remote_hosts(self) -> list[str]:
        names = [f"{self.prefix}-r{i}" for i in range(REMOTE_HOSTS)]
        inventory = os.path.join(os.path.dirname(self.tool), "hosts.csv")
        with open(inventory, "w") as fh:
            fh.write("host,tunnel_ip\n")
            fh.writelines(f"{n},198.18.100.{i + 1}\n" for i, n in enumerate(names))
        cmd = [sys.executable, "-m", "alcor", "hosts", "import", inventory]
        subprocess.run([*cmd, "--url", self.server.url], check=True, capture_output=True)
        return names

    def network(self, ports: int, mode: str = "on_demand") -> tuple[str, str]:
        """A network in `mode` with `ports` ports bound to the remote hosts (bulk POSTs)."""
        net = self.post(
            "/v2.0/networks",
            {"network": {"name": f"{self.prefix}-od", "alcor:neighbor_resolution": mode}},
        )["network"]
        subnet = self.post(
            "/v2.0/subnets",
            {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": NET}},
        )["subnet"]
        remotes = self.remote_hosts()
        base = int.from_bytes(bytes([10, 96, 1, 0]), "big")
        started = time.monotonic()
        for start in range(0, ports, 1000):
            batch = [
                {
                    "network_id": net["id"],
                    "fixed_ips": [{"ip_address": _ip(base + i)}],
                    "binding:host_id": remotes[i % REMOTE_HOSTS],
                    "device_owner": "compute:nova",
                    "security_groups": [],  # see the module docstring
                }
                for i in range(start, min(ports, start + 1000))
            ]
            self.post("/v2.0/ports", {"ports": batch})
            if start % 100_000 == 0:
                self.console.print(f"  {start:,} ports in {time.monotonic() - started:.0f} s")
        while not all_published(self.api):  # the compiler catches up before anything is timed
            time.sleep(0.5)
        self.console.print(
            f"  {ports:,} ports created and published in {time.monotonic() - started:.0f} s"
        )
        return net["id"], subnet["id"]

    def vm(self, net_id: str, host: str, dhcp: bool = True) -> tuple[Vm, dict[str, Any]]:
        self.n += 1
        port = self.post(
            "/v2.0/ports",
            {
                "port": {
                    "network_id": net_id,
                    "binding:host_id": host,
                    "device_owner": "compute:nova",
                    "device_id": str(uuid.uuid4()),
                }
            },
        )["port"]
        vm = self.lab.add_vm(host, port["id"], port["mac_address"], name=f"v{self.n}", dhcp=dhcp)
        return vm, port

    def wait_active(self, port_id: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api.get(f"/v2.0/ports/{port_id}").json()["port"]["status"] == "ACTIVE":
                return time.monotonic()
            time.sleep(0.002)
        raise TimeoutError(f"port {port_id} not ACTIVE")

    def tool_in(self, vm: Vm, *args: object) -> subprocess.Popen[str]:
        cmd = ["ip", "netns", "exec", vm.ns, sys.executable, self.tool, *map(str, args)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def counter(self, host: str, sample: str) -> int:
        """A counter of the host's agent, by its sample (`name_total{label="value"}`); 0 if
        the agent has none such."""
        url = self.lab.hosts[host].metrics_url
        assert url is not None
        text = self.api.get(url).text
        return int(float(text.split(sample + " ")[1].split()[0])) if sample + " " in text else 0

    def learnt(self, host: str) -> int:
        """Entries the host's agent learnt by asking, their flows installed (its counter)."""
        return self.counter(host, 'alcor_agent_neighbor_resolutions_total{outcome="learnt"}')


def _ip(value: int) -> str:
    return ".".join(str(b) for b in value.to_bytes(4, "big"))


def _timeline(b: Bench, port_id: str) -> dict[str, Any]:
    return b.api.get(f"/v2.0/ports/{port_id}/provisioning").json()["provisioning"]


def _join(b: Bench, net_id: str) -> dict[str, Any]:
    """A port created on h1 in the big network: the server's part (commit -> published), the
    agent's part and POST -> ACTIVE."""
    server, agent, total = [], [], []
    for _ in range(5):
        started = time.monotonic()
        vm, port = b.vm(net_id, "h1", dhcp=False)
        total.append(b.wait_active(port["id"]) - started)
        prov = _timeline(b, port["id"])
        server.append(prov["published_at"] - prov["committed_at"])
        agent.append(prov["programmed_at"] - prov["received_at"])
        b.lab.remove_vm(vm.name)
        b.api.delete(f"/v2.0/ports/{port['id']}")
    return {
        "server_s": stats.summary(server),
        "agent_s": stats.summary(agent),
        "post_to_active_s": stats.summary(total),
    }


def _first_packet(
    b: Bench, senders: dict[str, Vm], dst: Vm, dst_ip: str, arp_static: bool
) -> dict[str, Any]:
    """Datagrams from each sender to dst, each after dst's entry on the sender's host expired
    (see module doc), the senders taking turns in one run (the first the direct channel's,
    the other NATS's), each sample after the machine was idle 1.5 s."""
    ports = {label: 7001 + i for i, label in enumerate(senders)}
    if arp_static:
        for vm in senders.values():
            vm.x("ip", "neigh", "replace", dst_ip, "lladdr", dst.mac, "dev", "eth0", "nud", "perm")
    seconds = FIRST_PACKETS * 3.0 * len(senders) + 10  # ends sooner, all 2 per sample in
    recvs = {
        label: b.tool_in(dst, "recv", port, seconds, 2 * FIRST_PACKETS)
        for label, port in ports.items()
    }
    time.sleep(0.5)
    order = list(senders)
    for i in range(FIRST_PACKETS):
        for label in order if i % 2 == 0 else order[::-1]:
            time.sleep(3.0 / len(order))  # > IDLE plus OVS's expiry sweep for each sender
            vm = senders[label]
            if not arp_static:
                vm.x("ip", "neigh", "flush", "dev", "eth0")
            b.tool_in(vm, "send", dst_ip, ports[label], 2, 0.25).wait()
    out: dict[str, Any] = {}
    for label, recv in recvs.items():
        text, _ = recv.communicate()
        stamps = [tuple(map(float, line.split())) for line in text.splitlines() if line.strip()]
        first = [(r - s) * 1000 for s, r in stamps[0::2]]
        cached = [(r - s) * 1000 for s, r in stamps[1::2]]
        out[label] = {
            "first_ms": stats.summary(first),
            "cached_ms": stats.summary(cached),
            "received": len(stamps),
        }
        if TRACE:
            out[label]["trace_ms"] = _trace(b, senders[label].host.name, stamps[0::2])
    if arp_static:
        for vm in senders.values():
            vm.x("ip", "neigh", "del", dst_ip, "dev", "eth0", check=False)
    direct, *others = order
    result = out[direct]
    for label in others:
        result[f"over_{label}"] = out[label]
        result[f"{direct}_over_{label}_p50"] = round(
            out[direct]["first_ms"]["p50"] / out[label]["first_ms"]["p50"], 3
        )
    return result


def _stamps(path: str, pattern: re.Pattern[str]) -> list[tuple[float, ...]]:
    with open(path, errors="replace") as fh:
        return [tuple(map(float, m.groups())) for m in map(pattern.search, fh) if m]


def _trace(b: Bench, host: str, samples: list[tuple[float, ...]]) -> dict[str, Any]:
    """Each first packet (sent, received) split where the agent on `host` and the server logged
    its miss: sent -> packet-in at the agent (OVS's upcall and packet-in), -> request written,
    -> at the server's callback (NATS), -> answered, -> answer at the agent (NATS), -> packet
    sent on, -> received (OVS, tunnel, the other host): each step's median and every sample,
    slowest first."""
    agent = _stamps(b.lab.hosts[host].agent_log, _AGENT_TRACE)
    server = _stamps(str(b.server.log), _SERVER_TRACE)
    rows = []
    for number, (sent, received) in enumerate(samples):
        miss = next((m for m in agent if sent <= m[0] <= received), None)
        if miss is None:
            continue
        came, asked, answered, forwarded = miss
        rpc = next((r for r in server if asked <= r[0] <= answered), (asked, answered))
        marks = [sent, came, asked, rpc[0], rpc[1], answered, forwarded, received]
        steps = zip(TRACE_STEPS, itertools.pairwise(marks), strict=True)
        row = {step: round((end - start) * 1000, 3) for step, (start, end) in steps}
        rows.append({"sample": number, "total": round((received - sent) * 1000, 3), **row})
    rows.sort(key=lambda r: -r["total"])
    median = (
        {n: round(statistics.median(r[n] for r in rows), 3) for n in TRACE_STEPS} if rows else {}
    )
    return {"median": median, "samples": rows}


_RESOLVES = {
    "all": 'alcor_agent_neighbor_resolutions_total{outcome="requests"}',
    "direct": 'alcor_agent_direct_resolves_total{outcome="asked"}',
    "direct_missed": 'alcor_agent_direct_resolves_total{outcome="missed"}',
}


def _learn_10k(b: Bench, net_id: str, ports: int) -> dict[str, Any]:
    vms = [b.vm(net_id, "h1")[0] for _ in range(10)]
    before = b.learnt("h1")
    requests = {c: b.counter("h1", _RESOLVES[c]) for c in _RESOLVES}
    first = int.from_bytes(bytes([10, 96, 1, 0]), "big") + max(0, ports - 10_000)
    started = time.monotonic()
    procs = [
        b.tool_in(vm, "arp", vm.lease()["ip"], first + 1000 * i, 1000, SCAN_RATE, ARP_RETRIES)
        for i, vm in enumerate(vms)
    ]
    seen = before
    while time.monotonic() - started < 30:
        seen = b.learnt("h1")
        if seen - before >= 10_000:
            break
        time.sleep(0.02)
    took = time.monotonic() - started
    requests = {c: b.counter("h1", _RESOLVES[c]) - n for c, n in requests.items()}
    # ARP requests the VMs asked again in each round (unanswered until then)
    rounds = [list(map(int, proc.communicate()[0].split())) for proc in procs]
    again = [sum(r[i] for r in rounds if i < len(r)) for i in range(ARP_RETRIES)]
    for vm in vms:
        b.lab.remove_vm(vm.name)
    return {
        "seconds": round(took, 3),
        "learnt": seen - before,
        "scan_rate": SCAN_RATE,
        "requests": requests,  # resolve requests sent, those on the direct channel, unanswered
        "asked_again": again,  # by the VMs, in each retry round
    }


def _moved(b: Bench, a: Vm, bvm: Vm, b_port: str) -> dict[str, Any]:
    """a streams to b; b's port rebound to h3 and back: PUT -> the last datagram b still
    gets at its old host, and PUT -> the move published (the server's part)."""
    after: list[float] = []
    published: list[float] = []
    for _ in range(5):
        recv = b.tool_in(bvm, "recv", 7002, 3)
        time.sleep(0.3)
        send = b.tool_in(a, "send", bvm.lease()["ip"], 7002, 1500, 0.001)
        time.sleep(0.8)
        b.api.put(f"/v2.0/ports/{b_port}", json={"port": {"binding:host_id": "h3"}})
        moved_at = time.time()
        send.wait()
        out, _ = recv.communicate()
        got = [float(line.split()[1]) for line in out.splitlines() if line.strip()]
        last = max((t for t in got), default=moved_at)
        after.append(max(0.0, last - moved_at) * 1000)
        prov = _timeline(b, b_port)
        if prov["host_id"] == "h3":
            published.append((prov["published_at"] - moved_at) * 1000)
        b.api.put(f"/v2.0/ports/{b_port}", json={"port": {"binding:host_id": "h2"}})
        b.wait_active(b_port)
        time.sleep(0.5)
    out = {"last_datagram_after_put_ms": stats.summary(after)}
    if published:
        out["published_after_put_ms"] = stats.summary(published)
    return out


def _dhcp_and_port(b: Bench, net_id: str, dhcp_vm: Vm) -> tuple[float, float]:
    started = time.monotonic()
    dhcp_vm.dhcp()
    dhcp_s = time.monotonic() - started
    started = time.monotonic()
    vm, port = b.vm(net_id, "h1", dhcp=False)
    active_s = b.wait_active(port["id"]) - started
    b.lab.remove_vm(vm.name)
    b.api.delete(f"/v2.0/ports/{port['id']}")
    return dhcp_s, active_s


def _scan(b: Bench, net_id: str) -> dict[str, Any]:
    scanner, _ = b.vm(net_id, "h1")
    helper, _ = b.vm(net_id, "h1")
    quiet = [_dhcp_and_port(b, net_id, helper) for _ in range(3)]
    base = int.from_bytes(bytes([10, 96, 0, 0]), "big")
    proc = b.tool_in(scanner, "arp", scanner.lease()["ip"], base, 65_536)
    busy = [_dhcp_and_port(b, net_id, helper) for _ in range(3)]
    proc.wait()
    for vm in (scanner, helper):
        b.lab.remove_vm(vm.name)

    def med(values: list[tuple[float, float]], i: int) -> float:
        return round(statistics.median(v[i] for v in values), 4)

    out = {
        "dhcp_s": {"quiet": med(quiet, 0), "scan": med(busy, 0)},
        "port_active_s": {"quiet": med(quiet, 1), "scan": med(busy, 1)},
    }
    for v in out.values():
        v["ratio"] = round(v["scan"] / v["quiet"], 2)
    return out


def _published_after(b: Bench, path: str, body: dict[str, Any]) -> float:
    """PUT `path`, then ms from its return until the compiler has published everything."""
    b.api.put(path, json=body).raise_for_status()
    returned = time.monotonic()
    while not all_published(b.api):
        time.sleep(0.001)
    return (time.monotonic() - returned) * 1000


def _netchange(b: Bench, net_id: str, subnet_id: str) -> dict[str, Any]:
    """The network and its subnet changed: PUT -> published (see module doc)."""
    net, sub = [], []
    for i in range(5):
        body = {"network": {"name": f"{b.prefix}-od-{i}"}}
        net.append(_published_after(b, f"/v2.0/networks/{net_id}", body))
        body = {"subnet": {"dns_nameservers": [f"192.0.2.{i + 1}"]}}
        sub.append(_published_after(b, f"/v2.0/subnets/{subnet_id}", body))
    return {
        "network_put_to_published_ms": stats.summary(net),
        "subnet_put_to_published_ms": stats.summary(sub),
    }


STEPS = (
    "join",
    "first_packet",
    "learn_10k",
    "moved",
    "scan",
    "netchange",
)  # `--steps`, in run order


def part_e(
    prefix: str, console: Console, ports: int, steps: tuple[str, ...] = STEPS
) -> dict[str, Any]:
    """The measures of `steps` (all by default: a subset re-measures what a change touched
    without the rest's minutes)."""
    b = Bench(prefix, console)
    try:
        b.up()
        console.print(f"part e: {ports:,} ports in an on-demand network (bulk, not timed)")
        net_id, subnet_id = b.network(ports)
        result: dict[str, Any] = {"ports": ports, "idle_timeout_s": IDLE, "miss_rate": MISS_RATE}
        if "join" in steps:
            result["join"] = _join(b, net_id)
        if "first_packet" in steps or "moved" in steps:
            a, _ = b.vm(net_id, "h1")
            bvm, b_port = b.vm(net_id, "h2")
        if "first_packet" in steps:
            b_ip = bvm.lease()["ip"]
            b.restart_agent("h3", ALCOR_RESOLVE_DIRECT="false")
            c, c_port = b.vm(net_id, "h3")
            senders = {"direct": a, "nats": c}
            result["first_packet_l2"] = _first_packet(b, senders, bvm, b_ip, arp_static=True)
            result["first_packet_arp"] = _first_packet(b, senders, bvm, b_ip, arp_static=False)
            b.lab.remove_vm(c.name)
            b.api.delete(f"/v2.0/ports/{c_port['id']}")
            b.restart_agent("h3")
        if "learn_10k" in steps:
            result["learn_10k"] = _learn_10k(b, net_id, ports)
        if "moved" in steps:
            result["moved"] = _moved(b, a, bvm, b_port["id"])
        if "scan" in steps:
            result["scan_65k"] = _scan(b, net_id)
        if "netchange" in steps:
            result["netchange"] = _netchange(b, net_id, subnet_id)
        return result
    except BaseException:
        for name, host in b.lab.hosts.items():  # what the agents said, before it is gone
            with open(host.agent_log) as fh:
                console.print(
                    f"[bold]{name} agent log (tail)[/bold]\n" + "".join(fh.readlines()[-60:])
                )
        raise
    finally:
        b.down()
