"""Data-plane benchmark: how fast a real agent programs a real (userspace) OVS.

Usage (root; needs openvswitch-switch):
  .venv/bin/python benchmarks/dataplane.py                   # part b, 10k and 100k entries
  options: --sizes 10000,100000,1000000 --json PATH --prefix P

Part (b), neighbour tables: one simulated hypervisor from the lab (its own ovsdb-server and
ovs-vswitchd, netdev datapath), the agent running in this process with its real code path
(NATS subscription, seq chain, model, flow specs, reconciler, OpenFlow bundles on the bridge's
mgmt socket), a real nats-server and the test controller stand-in. Per size N, a fresh
network gets one local port (the agent joins it), then N remote neighbours spread over 100
VTEPs are published as NeighborDelta messages of 20k entries (to fit NATS max_payload),
serialised before the clock (that is controller work) and published without blocking the
agent's loop. Timed:
  apply       first delta published -> every flow acknowledged by OVS (bundle commit replies)
  bundle      duration of the last programming round of that apply
  one_more    one extra neighbour added to that N-entry network (incremental delta)
  leave       the local port removed: the agent leaves the network, its flows are deleted
  join        the port added again: the agent fetches the (chunked) N+1 table and programs
              it (includes the stand-in building and serialising the table, in-process)
Also recorded: flows in OVS after apply/leave (dump-aggregate), programming rounds, and CPU
seconds of ovs-vswitchd and of this process during apply.
Goals: 10k entries <= 0.2 s, 100k <= 2 s (apply). Results: benchmarks/results/dataplane.json.

Part stress (`--part stress`, options --vms N --hosts N --mode --hook): the original Alcor's
2,400 VMs on 10 hosts, part (a)'s round at that size with where the time and the CPU went and
`alcor audit` at the end (benchmarks/dataplane_stress.py). Results:
benchmarks/results/dataplane-stress.json.

Part (d), distributed routing (`--part d`): a router with 100 subnets and 1,000 ports on 3
real hosts: flows per host, time to program a host from nothing, routed vs same-subnet RTT
(benchmarks/dataplane_routing.py). Results: benchmarks/results/dataplane-routing.json.

Part (e), neighbours on demand (`--part e`, options --ports N --steps join,first_packet,
learn_10k,moved,scan,netchange --json-e PATH): a network of N ports on 100 remote hosts and 3 real
hosts (benchmarks/dataplane_ondemand.py). A subset of steps replaces only those in a results
file of the same N. Results: benchmarks/results/dataplane-ondemand.json.

Part (a), 150 VMs end to end through the API (`--part a`, options --vms N --hosts N
--mode bulk|concurrent|both --stack v4|dual|both --boot on-active|after-all-active
--hook lab|lean --py-spy DIR):
a real `alcor server` (embedded SQLite + NATS), a lab of N hosts with their agents, VM
namespaces and veths made before the clock. The clock starts at the first API call (POST
network, subnet, then the ports: one bulk POST with `binding:host_id` per port, or one POST
per port from 16 threads), VIFs are plugged the os-vif way in one OVSDB transaction per host
(the hosts in parallel), each VM runs udhcpc once its port is ACTIVE, and the clock stops
when the last VM holds its lease. `--stack dual` adds a SLAAC subnet: each VM also has IPv6
on (guest DAD off: a guest-side second that says nothing about the control plane) and the
clock stops when the last VM holds its lease and its EUI-64 address, configured from the
agent's router advertisement. Goal: 150 VMs <= 3 s, dual-stack as well. Results:
benchmarks/results/dataplane-api.json (per-port commit->programmed p50/p99 from the
provisioning timelines, and the last stamp of every stage after the start).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.console import Console
from rich.table import Table

from alcor.agent.main import Agent
from alcor.config import AgentSettings
from alcor.lab.dhcpclient import DhcpClients, GuestSockets, Offer
from alcor.lab.host import GUARD_TABLE, Host
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.lab.vm import HOOK as VM_HOOK
from alcor.southbound.nats_server import NatsServer, free_port
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from benchmarks import plots, procstat, stats
from benchmarks.controller_standin import ControllerStandIn

RESULTS = Path(__file__).resolve().parent / "results" / "dataplane.json"
CHUNK = 20_000  # neighbours per NeighborDelta (about 2 MB, under max_payload)
VTEPS = 100


def neighbor(i: int, net_id: str) -> pb.NeighborState:
    ip = ipaddress.IPv4Address("10.0.0.0") + 10 + i
    return pb.NeighborState(
        port_id=f"{net_id}-n{i}",
        revision=1,
        network_id=net_id,
        mac_address="fa:17:" + ":".join(f"{(i >> s) & 0xFF:02x}" for s in (24, 16, 8, 0)),
        fixed_ips=[pb.FixedIp(subnet_id=f"{net_id}-v4", ip_address=str(ip))],
        host_id=f"remote{i % VTEPS}",
        tunnel_ip=str(ipaddress.IPv4Address("198.18.1.0") + i % VTEPS),
    )


async def wait_flows(agent: Agent, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while len(agent.reconciler) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(agent.reconciler)} of {count} flows after {timeout}s")
        await asyncio.sleep(0.001)
    return time.monotonic()


def delta_payloads(
    ctl: ControllerStandIn, net_id: str, entries: list[pb.NeighborState]
) -> list[tuple[str, bytes]]:
    """The NeighborDelta messages (seq chain of the stand-in) for `entries`, serialised
    ahead of the clock: building them is the controller's work, not the agent's."""
    subject = subjects.network(net_id)
    out = []
    for start in range(0, len(entries), CHUNK):
        seq, prev = ctl._next(subject)
        delta = pb.NeighborDelta(
            network_id=net_id, seq=seq, prev_seq=prev, neighbors=entries[start : start + CHUNK]
        )
        out.append((subject, delta.SerializeToString()))
    return out


async def publish(ctl: ControllerStandIn, payloads: list[tuple[str, bytes]]) -> None:
    """Publish on the stand-in's connection without blocking this (the agent's) loop."""

    async def send() -> None:
        for subject, data in payloads:
            await ctl.nc.publish(subject, data)
        await ctl.nc.flush()

    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(send(), ctl.loop))


def vswitchd_cpu(host: Host) -> float:
    """CPU seconds used so far by the host's ovs-vswitchd (user + system)."""
    return procstat.cpu_seconds(int(Path(host.dir, "ovs-vswitchd.pid").read_text()))


def ovs_flow_count(host: Host) -> int:
    out = host.ofctl("dump-aggregate", host.mgmt())
    return int(out.split("flow_count=")[1].split()[0])


async def part_b(lab: Lab, nats_url: str, sizes: list[int], console: Console) -> dict[str, Any]:
    host = lab.hosts["h1"]
    ctl = ControllerStandIn(nats_url, chunk_size=CHUNK).start()
    settings = AgentSettings(
        host_id="h1",
        tunnel_ip=host.tunnel_ip,
        nats_url=nats_url,
        ovsdb=host.db,
        ovs_rundir=host.dir,
        datapath_type="netdev",
    )
    agent = Agent(settings)
    await agent.start()
    while not agent.programmed_once:  # the static pipeline of an empty host
        await asyncio.sleep(0.01)
    out: dict[str, Any] = {}
    try:
        for round_no, n in enumerate(sizes):
            net_id = f"bench{round_no}"
            local = f"{net_id}-local"
            ctl.add_network(net_id, 1000 + round_no, "10.0.0.0/8", "10.0.0.1")
            before = agent.programs
            idle = len(agent.reconciler)
            ctl.add_port(local, "h1", net_id, "10.0.0.5", "fa:16:3e:aa:00:05")
            await agent.wait_programmed(before, 30)
            while net_id not in agent.model.tables or agent.net_streams[net_id].syncing:
                await asyncio.sleep(0.01)
            base = len(agent.reconciler)
            entries = [neighbor(i, net_id) for i in range(n)]
            for e in entries:  # the stand-in answers table RPCs from its ports
                ctl.ports[e.port_id] = pb.PortState(
                    id=e.port_id,
                    revision=1,
                    network_id=net_id,
                    mac_address=e.mac_address,
                    fixed_ips=e.fixed_ips,
                    host_id=e.host_id,
                )
                ctl.tunnel_ips[e.host_id] = e.tunnel_ip
            payloads = delta_payloads(ctl, net_id, entries)
            rounds0, vs0, cpu0 = agent.programs, vswitchd_cpu(host), time.process_time()
            t0 = time.monotonic()
            await publish(ctl, payloads)
            t1 = await wait_flows(agent, base + 2 * n, 900)
            cpu = {
                "vswitchd": vswitchd_cpu(host) - vs0,
                "bench_process": time.process_time() - cpu0,
            }
            while agent.programs == rounds0 or agent.dirty:  # the round's own bookkeeping
                await asyncio.sleep(0.001)
            rounds = agent.programs - rounds0
            bundle = agent.reconciler.last_apply_s
            in_ovs = ovs_flow_count(host)
            extra = neighbor(n, net_id)
            ctl.ports[extra.port_id] = pb.PortState(
                id=extra.port_id,
                revision=1,
                network_id=net_id,
                mac_address=extra.mac_address,
                fixed_ips=extra.fixed_ips,
                host_id=extra.host_id,
            )
            payloads = delta_payloads(ctl, net_id, [extra])
            t2 = time.monotonic()
            await publish(ctl, payloads)
            t3 = await wait_flows(agent, base + 2 * n + 2, 60)
            one_more_lines = agent.reconciler.last_lines
            t4 = time.monotonic()
            ctl.delete_port(local)
            while len(agent.reconciler) > idle:
                await asyncio.sleep(0.005)
            t5 = time.monotonic()
            left_in_ovs = ovs_flow_count(host)
            # join: a port lands on a network that already has n+1 neighbours; the agent
            # fetches the (chunked) table. Includes the stand-in building the table.
            t6 = time.monotonic()
            ctl.add_port(local, "h1", net_id, "10.0.0.5", "fa:16:3e:aa:00:05")
            await wait_flows(agent, base + 2 * n + 2, 900)
            t7 = time.monotonic()
            ctl.delete_port(local)
            while len(agent.reconciler) > idle:
                await asyncio.sleep(0.005)
            out[str(n)] = {
                "entries": n,
                "flows": 2 * n,
                "apply_s": round(t1 - t0, 4),
                "last_bundle_s": round(bundle, 4),
                "flows_in_ovs_after_apply": in_ovs,
                "programming_rounds": rounds,
                "cpu_s_during_apply": {k: round(v, 2) for k, v in cpu.items()},
                "one_more_s": round(t3 - t2, 4),
                "one_more_bundle_lines": one_more_lines,
                "leave_s": round(t5 - t4, 4),
                "flows_in_ovs_after_leave": left_in_ovs,
                "join_s": round(t7 - t6, 4),
            }
            console.log(f"{n} neighbours: {out[str(n)]}")
            for e in entries:
                ctl.ports.pop(e.port_id, None)
            ctl.ports.pop(extra.port_id, None)
    finally:
        await agent.stop()
        ctl.stop()
    return out


# -- part (a): 150 VMs end to end through the API ---------------------------------------------
RESULTS_API = Path(__file__).resolve().parent / "results" / "dataplane-api.json"
UDHCPC_OPTS = ["-O", "staticroutes", "-O", "mtu", "-O", "dns", "-O", "domain"]
# `--hook lean`: the same configuration as the lab's hook (MTU, address, routes, lease record);
# IPv4-only guests get it from the light DHCP client (`Guests`), dual-stack ones from udhcpc
# with this hook: one `ip -batch` instead of about eight processes per VM. 150 guests share two
# cores here, so the guests' own shell work would otherwise weigh on the control plane's figures.
LEAN_HOOK = """#!/bin/sh
[ "$1" = bound ] || exit 0
{{
  echo "link set dev $interface mtu ${{mtu:-1500}}"
  echo "addr replace $ip/$mask dev $interface"
  if [ -n "$staticroutes" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do echo "route replace $1 via $2 dev $interface"; shift 2; done
  elif [ -n "$router" ]; then
    echo "route replace default via ${{router%% *}} dev $interface"
  fi
}} | ip -batch -
printf 'ip=%s\nsubnet=%s\nmask=%s\nrouter=%s\nmtu=%s\ndns=%s\nserverid=%s\n' \
  "$ip" "$subnet" "$mask" "$router" "$mtu" "$dns" "$serverid" > {lease}
"""


def _sh(cmd: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.returncode} {proc.stderr.strip()[:500]}")
    return proc.stdout


class BenchVm:
    """A VM namespace made before the clock: eth0 with its MAC, host side `dev` on a host."""

    def __init__(
        self,
        lab: Lab,
        host: str,
        index: int,
        round_no: int,
        hook: str = VM_HOOK,
        dual: bool = False,
    ) -> None:
        self.hook = hook
        self.dual = dual
        self.host = lab.hosts[host]
        self.ns = f"{lab.prefix}-r{round_no}v{index}"
        self.dev = f"t{round_no}v{index}"  # host-side veth; unique within the host netns
        self.mac = f"fa:16:3e:b{round_no}:{index >> 8:02x}:{index & 0xFF:02x}"
        self.dir = lab.state_dir / "bench" / self.ns
        self.port_id = ""
        self.ip = ""
        self.ip6 = ""  # dual stack: the SLAAC address it must configure
        self.lease: dict[str, str] = {}
        self.dhcp_started = 0.0  # wall clock, as the lease file's mtime
        self.dhcp_s = 0.0
        self.sockets: GuestSockets | None = None  # the light client's (`_make_vms`)

    @property
    def light(self) -> bool:
        """Whether the light DHCP client serves this guest (`Guests`): `--hook lean`, IPv4."""
        return self.hook == LEAN_HOOK and not self.dual

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        hook = self.dir / "hook.sh"
        hook.write_text(self.hook.format(lease=shlex.quote(str(self.dir / "lease"))))
        hook.chmod(0o755)

    def configure(self) -> None:
        script = (
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
            f" && ip link set lo up && ip link set eth0 address {self.mac}"
            " && ip link set eth0 up && ethtool -K eth0 tx off >/dev/null"
        )
        if self.dual:
            script += (
                " && sysctl -qw net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.eth0.accept_ra=1"
                " net.ipv6.conf.eth0.disable_ipv6=0"
            )
        _sh([*self.enter, "sh", "-c", script])

    @property
    def enter(self) -> list[str]:
        """The command prefix that runs a program in the guest's network namespace.

        `nsenter --net`, not `ip netns exec`: the latter also makes a mount namespace and
        remounts /sys for each process, which serialises on the kernel's mount lock; 2,400
        guests started together left 2,236 `ip` processes in D state for tens of seconds.
        The guests' programs (sysctl, ip, ethtool, udhcpc and its hook) need only the
        network namespace (/proc/sys/net follows the opener's)."""
        return ["nsenter", f"--net=/run/netns/{self.ns}"]

    def dhcp(self) -> dict[str, str]:
        """One DHCP exchange (DISCOVER..ACK, the hook, quit) and the lease it recorded; with
        IPv6 on, also the SLAAC address waited for. `dhcp_s`: client started -> lease
        recorded by the hook."""
        udhcpc = ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "8", "-T", "1"]
        hook = str(self.dir / "hook.sh")
        self.dhcp_started = time.time()
        code = subprocess.run(
            [*self.enter, *udhcpc, "-A", "1", "-s", hook, *UDHCPC_OPTS], capture_output=True
        ).returncode
        if code != 0:
            raise RuntimeError(f"{self.ns}: udhcpc exited {code} without a lease")
        path = self.dir / "lease"
        self.dhcp_s = path.stat().st_mtime - self.dhcp_started
        lease = path.read_text().splitlines()
        self.lease = dict(line.split("=", 1) for line in lease if "=" in line)
        if self.dual:
            self._wait_slaac()
        return self.lease

    def leased(self, ack: Offer) -> None:
        """The light client applied `ack` (on its thread): record it as the hook would."""
        self.dhcp_s = time.time() - self.dhcp_started
        self.lease = {"ip": ack.ip, "mask": str(ack.prefixlen), "mtu": str(ack.mtu)}

    def _wait_slaac(self, timeout: float = 30.0) -> None:
        show = [*self.enter, "ip", "-6", "-o", "addr", "show", "dev", "eth0"]
        deadline = time.monotonic() + timeout
        while f" {self.ip6}/64 " not in _sh(show):
            if time.monotonic() > deadline:
                snmp = _sh([*self.enter, "cat", "/proc/net/snmp6"])
                seen = [ln for ln in snmp.splitlines() if "RouterAdvert" in ln or "RouterSol" in ln]
                raise TimeoutError(f"{self.ns}: no SLAAC address {self.ip6} ({_sh(show)}; {seen})")
            time.sleep(0.1)  # a process per look: 150 guests looking faster load the 2 cores
        self.lease["ip6"] = self.ip6


def _make_vms(lab: Lab, count: int, round_no: int, hook: str, dual: bool = False) -> list[BenchVm]:
    """Namespaces + veths + nft guards for `count` VMs spread round-robin over the hosts
    (one `ip -batch` for the namespaces, then per host one `ip -batch` and one `nft -f`); the
    light client's guests are configured from inside as their sockets open
    (`GuestSockets.open`), the others by a shell each. Not timed."""
    names = sorted(lab.hosts)
    vms = [BenchVm(lab, names[i % len(names)], i, round_no, hook, dual) for i in range(count)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(BenchVm.prepare, vms))
    _sh(["ip", "-batch", "-"], stdin="".join(f"netns add {vm.ns}\n" for vm in vms))
    for name in names:
        mine = [vm for vm in vms if vm.host.name == name]
        links = "".join(
            f"link add {vm.dev} type veth peer name eth0 netns {vm.ns}\nlink set {vm.dev} up\n"
            for vm in mine
        )
        _sh(["ip", "-n", lab.hosts[name].ns, "-batch", "-"], stdin=links)
        guards = "".join(
            f"add chain netdev {GUARD_TABLE} in_{vm.dev} {{ type filter hook ingress device "
            f"{vm.dev} priority 0; policy drop; }}\n"
            for vm in mine
        )
        _sh(["ip", "netns", "exec", lab.hosts[name].ns, "nft", "-f", "-"], stdin=guards)
    light = [vm for vm in vms if vm.light]  # configured as their sockets open
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(BenchVm.configure, [vm for vm in vms if not vm.light]))
    opened = GuestSockets.open((f"/run/netns/{vm.ns}", vm.mac) for vm in light)
    for vm, sockets in zip(light, opened, strict=True):
        vm.sockets = sockets
    return vms


def _close_sockets(vms: list[BenchVm]) -> None:
    """Close the light client's sockets (they would keep the namespaces alive), after the
    clock and many at once: closing a packet socket waits for an RCU grace period (tens of
    ms on busy cores), which closes in parallel share; one by one, on the client's threads
    as leases arrived, they held the median lease back 0.6 s at 600 guests."""
    opened = [vm for vm in vms if vm.sockets is not None]
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(lambda vm: vm.sockets.close() if vm.sockets else None, opened))
    for vm in opened:
        vm.sockets = None


def _drop_vms(lab: Lab, vms: list[BenchVm]) -> None:
    _close_sockets(vms)
    for host in {vm.host.name for vm in vms}:
        mine = [vm for vm in vms if vm.host.name == host]
        args = [a for vm in mine for a in ("--", "--if-exists", "del-port", "br-int", vm.dev)]
        lab.hosts[host].vsctl(*args)
    for vm in vms:
        subprocess.run(["ip", "netns", "del", vm.ns], capture_output=True)


def _plug(host: Host, vms: list[BenchVm]) -> None:
    """Plug a host's VIFs the Nova/os-vif way, all in one OVSDB transaction (ovs-vsctl waits
    until ovs-vswitchd has applied it)."""
    args: list[str] = ["--timeout=60", f"--db={host.db}"]
    for vm in vms:
        args += ["--", "--may-exist", "add-port", "br-int", vm.dev]
        args += ["--", "set", "Interface", vm.dev, f"external_ids:iface-id={vm.port_id}"]
        args += [f"external_ids:attached-mac={vm.mac}", f"external_ids:vm-uuid={uuid.uuid4()}"]
        args += ["external_ids:iface-status=active"]
    _sh(["ovs-vsctl", *args])


class Guests:
    """The guests' DHCP clients, started as their ports turn ACTIVE.

    A guest with its sockets open (`--hook lean`, IPv4 only: `BenchVm.sockets`) runs its
    exchange on the one thread of `DhcpClients` (alcor/lab/dhcpclient.py says why); the
    others run udhcpc on a pool thread each (`BenchVm.dhcp`), at most `in_flight` at once.
    Not a thread each: 2,400 threads each starting its client at once put 2,400 DISCOVERs and
    process starts on 2 cores together. Not one `sh` forking a whole batch either: measured
    on 150 VMs, its simultaneous DISCOVERs made the median guest wait 1.2 s for its lease
    against 0.4 s paced by threads (a client that loses its first DISCOVER retries after
    udhcpc's 1 s)."""

    def __init__(self, in_flight: int = 128) -> None:
        self.pool = ThreadPoolExecutor(in_flight)
        self.light = DhcpClients()
        self.running: list[Future[dict[str, str]]] = []

    def start(self, vms: list[BenchVm]) -> None:
        for vm in vms:
            if vm.sockets is not None:
                vm.dhcp_started = time.time()
                self.light.start(vm.sockets, vm.leased)
            else:
                self.running.append(self.pool.submit(vm.dhcp))

    def reap(self) -> None:
        """Collect the clients that exited (raises on one that got no lease)."""
        for fut in [f for f in self.running if f.done()]:
            self.running.remove(fut)
            fut.result()

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.light.wait(timeout)
        for fut in self.running:
            fut.result(timeout=max(1.0, deadline - time.monotonic()))
        self.running = []

    def close(self) -> None:
        self.pool.shutdown()
        self.light.close()


def active_ports(api: httpx.Client, params: dict[str, Any]) -> list[str]:
    """Ids of the ACTIVE ports matching `params`, every page (the server cuts a list at
    `max_page_size`, 1,000: a benchmark of more ports follows the `next` links)."""
    query: dict[str, Any] = {**params, "status": "ACTIVE", "fields": "id"}
    page = api.get("/v2.0/ports", params=query).json()
    ids = [p["id"] for p in page["ports"]]
    while nxt := next(
        (ln["href"] for ln in page.get("ports_links", []) if ln["rel"] == "next"), None
    ):
        page = api.get(nxt).json()
        ids += [p["id"] for p in page["ports"]]
    return ids


def _ping_pairs(vms: list[BenchVm], count: int) -> list[tuple[BenchVm, BenchVm]]:
    """`count` pairs of VMs on different hosts, spread over the round."""
    step = max(1, len(vms) // max(1, count))
    pairs = []
    for i in range(0, len(vms), step):
        peer = next((v for v in vms[i + 1 :] + vms[:i] if v.host is not vms[i].host), None)
        if peer is not None:
            pairs.append((vms[i], peer))
    return pairs[:count]


def _ping(a: BenchVm, b: BenchVm) -> bool:
    cmd = [*a.enter, "ping", "-c", "2", "-i", "0.2", "-W", "1", b.ip]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def _start_py_spy(
    server: AlcorServer, lab: Lab, out_dir: str, mode: str
) -> list[subprocess.Popen[bytes]]:
    """`py-spy record` (collapsed stacks) of the server and every agent for one round."""
    spy = str(Path(sys.executable).parent / "py-spy")
    pids = {"server": server.proc.pid if server.proc else None}
    pids.update({h.name: h.agent_pid() for h in lab.hosts.values()})
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    procs = []
    for name, pid in pids.items():
        if pid is None:
            continue
        out = Path(out_dir) / f"{mode}-{name}.txt"
        cmd = [spy, "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(out), "-s"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)  # py-spy attaches
    return procs


def run_part_a(
    server: AlcorServer,
    lab: Lab,
    vms: list[BenchVm],
    mode: str,
    round_no: int,
    console: Console,
    profile_dir: str = "",
    boot: str = "on-active",
    pings: int = 1,
    clock: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """One timed round: network + subnet + len(vms) ports through the API, VIFs plugged,
    every port ACTIVE, every VM holding its DHCP lease. `boot`: "on-active" starts each VM's
    DHCP client as soon as its port is ACTIVE (Nova boots the guest once network-vif-plugged
    arrives); "after-all-active" waits for all of them first (separates the control plane
    from the 150 DHCP clients when profiling). `pings`: VM pairs on different hosts that must
    reach each other afterwards; `clock(mark)` is called as the clock starts ("start"), when
    every VIF is plugged ("plugged"), every port seen ACTIVE ("active") and the clock stops
    ("stop"): a caller's meters."""
    api = httpx.Client(base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=32))
    by_host: dict[str, list[BenchVm]] = {}
    for vm in vms:
        by_host.setdefault(vm.host.name, []).append(vm)
    marks: dict[str, float] = {}
    spies = _start_py_spy(server, lab, profile_dir, mode) if profile_dir else []
    clock("start")
    wall0 = time.time()
    t0 = time.monotonic()

    def post(path: str, body: dict[str, Any]) -> Any:
        resp = api.post(path, json=body)
        if resp.status_code != 201:
            raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json()

    net = post("/v2.0/networks", {"network": {"name": f"{lab.prefix}-bench{round_no}"}})["network"]
    post(
        "/v2.0/subnets",
        {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.0.0.0/16"}},
    )
    dual = vms[0].dual
    if dual:
        slaac = {"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}
        v6 = {"network_id": net["id"], "ip_version": 6, "cidr": "fd00:b0::/64", **slaac}
        post("/v2.0/subnets", {"subnet": v6})
    marks["network"] = time.monotonic() - t0

    def body(vm: BenchVm) -> dict[str, Any]:
        return {
            "network_id": net["id"],
            "mac_address": vm.mac,
            "device_owner": "compute:nova",
            "device_id": str(uuid.uuid4()),
            "binding:host_id": vm.host.name,
        }

    if mode == "bulk":
        ports = post("/v2.0/ports", {"ports": [body(vm) for vm in vms]})["ports"]
    else:
        with ThreadPoolExecutor(16) as pool:
            ports = list(pool.map(lambda vm: post("/v2.0/ports", {"port": body(vm)})["port"], vms))
    for vm, port in zip(vms, ports, strict=True):
        assert port["mac_address"] == vm.mac
        vm.port_id, vm.ip = port["id"], port["fixed_ips"][0]["ip_address"]
        vm.ip6 = next((f["ip_address"] for f in port["fixed_ips"] if ":" in f["ip_address"]), "")
    marks["create"] = time.monotonic() - t0
    with ThreadPoolExecutor(len(by_host)) as pool:
        list(pool.map(lambda item: _plug(lab.hosts[item[0]], item[1]), by_host.items()))
    marks["plug"] = time.monotonic() - t0
    clock("plugged")
    guests = Guests()
    by_id = {vm.port_id: vm for vm in vms}
    timeout = 120 + len(vms) / 20
    deadline = time.monotonic() + timeout
    # A list of every ACTIVE port costs the server about 10 us a port: look less often as
    # the round grows, so that watching does not load the control plane it watches.
    interval = max(0.02, len(vms) / 20_000)
    curve: list[tuple[float, int]] = []  # (s after start, ports seen ACTIVE) at each change
    active: set[str] = set()
    watch = {"list_s": 0.0, "start_guests_s": 0.0}  # where the watching loop's time went
    while len(active) < len(vms):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(active)} of {len(vms)} ports ACTIVE after {timeout} s")
        listed = time.monotonic()
        seen = [p for p in active_ports(api, {"network_id": net["id"]}) if p not in active]
        watch["list_s"] += time.monotonic() - listed
        active.update(seen)
        if boot == "on-active":
            started = time.monotonic()
            guests.start([by_id[port_id] for port_id in seen])
            watch["start_guests_s"] += time.monotonic() - started
        if not curve or curve[-1][1] != len(active):
            curve.append((round(time.monotonic() - t0, 3), len(active)))
        guests.reap()
        if len(active) < len(vms):
            time.sleep(interval)
    marks["active"] = time.monotonic() - t0
    clock("active")
    if boot == "after-all-active":
        guests.start(vms)
    guests.wait(timeout)
    marks["leases"] = time.monotonic() - t0
    guests.close()
    _close_sockets(vms)
    clock("stop")
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    bad = [vm.ns for vm in vms if vm.lease.get("ip") != vm.ip]
    if bad:
        raise RuntimeError(f"wrong or missing leases: {bad[:5]}")
    # -- not timed: the provisioning timelines, and cross-host pings as a sanity check.
    with ThreadPoolExecutor(8) as pool:
        timelines = list(
            pool.map(
                lambda vm: api.get(f"/v2.0/ports/{vm.port_id}/provisioning").json()["provisioning"],
                vms,
            )
        )
    api.close()
    programmed = [tl["latency_ms"]["programmed"] for tl in timelines]
    reported = [tl["latency_ms"]["reported"] for tl in timelines]
    stages = {
        s: round(max(tl[f"{s}_at"] for tl in timelines) - wall0, 3)
        for s in (
            "requested", "committed", "compiled", "published", "received", "programmed",
            "reported", "active",
        )
    }  # fmt: skip
    per_host = {
        host: {
            s: round(max(tl[f"{s}_at"] for tl in timelines if tl["host_id"] == host) - wall0, 3)
            for s in ("received", "programmed", "active")
        }
        for host in sorted(by_host)
    }
    pairs = _ping_pairs(vms, pings)
    with ThreadPoolExecutor(8) as pool:
        pinged = list(pool.map(lambda pair: _ping(*pair), pairs))
    out = {
        "mode": mode,
        "stack": "dual" if dual else "v4",
        "vms": len(vms),
        "hosts": len(by_host),
        "total_s": round(marks["leases"], 3),
        **{f"{k}_s": round(v, 3) for k, v in marks.items()},
        "commit_to_programmed_ms": stats.summary(programmed, ("p50", "p99", "max"), 1),
        "commit_to_reported_ms": stats.summary(reported, ("p50", "p99"), 1),
        "last_stamp_after_start_s": stages,
        "last_stamp_per_host_s": per_host,
        "boot": boot,
        "hook": "lean" if vms[0].hook == LEAN_HOOK else "lab",
        "dhcp_client_s": stats.summary([vm.dhcp_s for vm in vms], ("p50", "max")),
        "cross_host_pings": {"pairs": len(pairs), "ok": sum(pinged)},
        "cross_host_ping_ok": all(pinged),
        "active_curve": curve,
        "watch": {k: round(v, 3) for k, v in watch.items()},
    }
    console.log(f"part a ({mode}): {out}")
    return out


def main_part_a(args: argparse.Namespace, console: Console) -> None:
    console = Console(width=max(console.width, 150))
    args.vms, args.hosts = args.vms or 150, args.hosts or 3
    modes = ["bulk", "concurrent"] if args.mode == "both" else [args.mode]
    server = AlcorServer().start()
    lift_quotas(server.url)
    lab = Lab(args.prefix)
    results: dict[str, Any] = {}
    try:
        lab.up(args.hosts, server.nats_url, credentials=server.credentials)
        agents = f"{server.url}/v2.0/agents"
        deadline = time.monotonic() + 30
        while sum(a["alive"] for a in httpx.get(agents).json()["agents"]) < args.hosts:
            if time.monotonic() > deadline:
                raise TimeoutError("agents did not register")
            time.sleep(0.1)
        for host in lab.hosts.values():
            lab.wait_bridge(host)
        stacks = ["v4", "dual"] if args.stack == "both" else [args.stack]
        rounds = [(mode, stack) for stack in stacks for mode in modes]
        for round_no, (mode, stack) in enumerate(rounds):
            hook = LEAN_HOOK if args.hook == "lean" else VM_HOOK
            vms = _make_vms(lab, args.vms, round_no, hook, dual=stack == "dual")
            key = mode if stack == "v4" else f"{mode}+ipv6"
            results[key] = run_part_a(
                server, lab, vms, mode, round_no, console, args.py_spy, args.boot
            )
            _drop_vms(lab, vms)
    finally:
        lab.down()
        server.stop()
        shutil.rmtree(server.tmp, ignore_errors=True)
    table = Table(
        "method", "VMs/hosts", "network s", "create s", "plugged s", "all ACTIVE s",
        "all leases s", "commit->programmed p50/p99 ms",
    )  # fmt: skip
    for r in results.values():
        table.add_row(
            r["mode"] + (" dual-stack" if r["stack"] == "dual" else ""),
            f"{r['vms']}/{r['hosts']}",
            f"{r['network_s']:.3f}",
            f"{r['create_s']:.3f}",
            f"{r['plug_s']:.3f}",
            f"{r['active_s']:.3f}",
            f"[bold]{r['leases_s']:.3f}[/bold]",
            "{p50:.0f} / {p99:.0f}".format(**r["commit_to_programmed_ms"]),
        )
    console.print(table)
    best = min(results.values(), key=lambda r: r["total_s"])
    doc = {
        "part_a_api": results,
        "best": {"mode": best["mode"], "total_s": best["total_s"]},
        "meta": {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "goal": "150 ports through the API -> all ACTIVE and leased <= 3 s",
            "clock": "starts at the first API call (POST network); VM namespaces and veths "
            "are made before it; stops when the last VM holds its lease",
            "cpus": os.cpu_count(),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
            "hook": args.hook,
            "boot": args.boot,
        },
    }
    Path(args.json_a).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_a).write_text(json.dumps(doc, indent=1))
    _chart(args, args.json_a)


RESULTS_STRESS = Path(__file__).resolve().parent / "results" / "dataplane-stress.json"


def main_part_stress(args: argparse.Namespace, console: Console) -> None:
    """The 2,400-VM stress case on 10 real hosts (benchmarks/dataplane_stress.py)."""
    from benchmarks.dataplane_stress import part_stress

    console = Console(width=max(console.width, 150))
    vms, hosts = args.vms or 2400, args.hosts or 10
    mode = "bulk" if args.mode == "both" else args.mode
    r = part_stress(args.prefix, hosts, vms, mode, args.hook, console)
    stages = Table("stage (last port)", "s after the first API call")
    for stage, at in r["last_stamp_after_start_s"].items():
        stages.add_row(stage, f"{at:.3f}")
    stages.add_row("plugged (all hosts' OVSDB transactions done)", f"{r['plug_s']:.3f}")
    stages.add_row("all ACTIVE (seen through the API)", f"{r['active_s']:.3f}")
    stages.add_row("[bold]all leases[/bold]", f"[bold]{r['leases_s']:.3f}[/bold] [<= 10]")
    console.print(stages)
    phases = r["cpu_s_by_phase"]
    cpu = Table("CPU s of", *phases, "whole clock")
    for name, seconds in r["cpu_s_during_clock"].items():
        cpu.add_row(name, *(f"{p[name]:.2f}" for p in phases.values()), f"{seconds:.2f}")
    console.print(cpu)
    summary = Table("VMs/hosts", "mode", "all leases s", "with plumbing s", "pings", "audit")
    summary.add_row(
        f"{r['vms']}/{r['hosts']}",
        r["mode"],
        f"[bold]{r['total_s']:.2f}[/bold]",
        f"{r['total_with_plumbing_s']:.2f}",
        f"{r['cross_host_pings']['ok']}/{r['cross_host_pings']['pairs']}",
        "clean" if r["audit"]["clean"] else f"[red]{r['audit']['states']}[/red]",
    )
    console.print(summary)
    _save(
        args,
        r,
        args.json_stress,
        goal="2,400 VMs on 10 real hosts, all ACTIVE and leased <= 10 s (original 35 s)",
        clock="first API call (POST network) -> last guest holding its lease; the VMs' "
        "namespaces, veths and guards are made before it (plumbing_s)",
        cpus=os.cpu_count(),
    )
    if not (r["cross_host_ping_ok"] and r["audit"]["clean"]):
        raise SystemExit("stress: a ping failed or the audit is not clean")


RESULTS_SG = Path(__file__).resolve().parent / "results" / "dataplane-sg.json"


def main_part_c(args: argparse.Namespace, console: Console) -> None:
    """Part (c): security groups on one real host (benchmarks/dataplane_sg.py says what)."""
    from benchmarks.dataplane_sg import part_c

    result = part_c(args.prefix)
    table = Table("SG flows", "in OVS", "naive", "program s", "join p50/p99 ms", "leave p50/p99")
    table.add_row(
        f"{result['sg_flows']:,} [<= 25,000]",
        f"{result['flows_in_ovs']:,}",
        f"{result['naive_flows']:,}",
        f"[bold]{result['program_s']:.3f}[/bold] [<= 0.5]",
        f"[bold]{result['join_ms']['p50']}[/bold] / {result['join_ms']['p99']} [p50 <= 20]",
        f"{result['leave_ms']['p50']} / {result['leave_ms']['p99']}",
    )
    console.print(table)
    _save(args, result, args.json_c)


RESULTS_ROUTING = Path(__file__).resolve().parent / "results" / "dataplane-routing.json"


def main_part_d(args: argparse.Namespace, console: Console) -> None:
    """Part (d): distributed routing on 3 real hosts (benchmarks/dataplane_routing.py)."""
    from benchmarks.dataplane_routing import part_d

    result = part_d(args.prefix, console)
    table = Table(
        "subnets/ports", "flows per host", "ports ACTIVE s", "program s", "RTT p50 ms",
        "FIP first packet p50 ms",
    )  # fmt: skip
    table.add_row(
        f"{result['subnets']}/{result['ports']}",
        ", ".join(f"{h}: {n:,}" for h, n in result["flows_per_host"].items()),
        f"{result['ports_active_s']:.2f}",
        f"[bold]{result['program_from_nothing_s']:.2f}[/bold]",
        f"same {result['rtt_same_subnet_ms_p50']}, routed {result['rtt_routed_ms_p50']} "
        f"([bold]{result['routed_overhead_pct']:+.1f} %[/bold], goal <= +20 %)",
        f"[bold]{result['fip_first_packet_ms']['p50']}[/bold] (goal <= 100); moved to "
        f"another host {result['fip_first_packet_ms']['move']['p50']}",
    )
    console.print(table)
    _save(args, result, args.json_d)


RESULTS_ONDEMAND = Path(__file__).resolve().parent / "results" / "dataplane-ondemand.json"


def main_part_e(args: argparse.Namespace, console: Console) -> None:
    """Part (e): neighbours on demand on 3 real hosts (benchmarks/dataplane_ondemand.py).
    `--steps`: a subset is merged into the results file of the same network size, each
    measure keeping the time it was taken (`meta.steps`)."""
    from benchmarks.dataplane_ondemand import STEPS, part_e

    steps = tuple(args.steps.split(",")) if args.steps else STEPS
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise SystemExit(f"--steps: unknown {sorted(unknown)}; known: {', '.join(STEPS)}")
    r = part_e(args.prefix, console, args.ports, steps)
    table = Table("measure", "result", "goal")
    if "join" in r:
        join = r["join"]
        table.add_row(
            f"join a {r['ports']:,}-port network (agent / POST->ACTIVE, p50)",
            f"[bold]{join['agent_s']['p50']:.3f}[/bold] / {join['post_to_active_s']['p50']:.3f} s",
            "<= 0.1 s",
        )
        table.add_row(
            "  the server's part (commit -> published, p50)", f"{join['server_s']['p50']:.3f} s", ""
        )
    for kind in ("l2", "arp"):
        fp = r.get(f"first_packet_{kind}")
        if fp is None:
            continue
        table.add_row(
            f"first packet, {kind} miss (cached) p50/p99",
            f"[bold]{fp['first_ms']['p50']} / {fp['first_ms']['p99']}[/bold] "
            f"({fp['cached_ms']['p50']} / {fp['cached_ms']['p99']}) ms",
            "<= 2 / 10 ms",
        )
        nats = fp.get("over_nats")
        if nats is not None:
            table.add_row(
                "  the same over NATS only, in turns (cached) p50/p99",
                f"{nats['first_ms']['p50']} / {nats['first_ms']['p99']} "
                f"({nats['cached_ms']['p50']} / {nats['cached_ms']['p99']}) ms; "
                f"direct / NATS p50 {fp['direct_over_nats_p50']}x",
                "",
            )
        trace = fp.get("trace_ms")
        if trace and trace["samples"]:  # ALCOR_TRACE_FIRST_PACKET=1
            for label, split in (("median", trace["median"]), ("slowest", trace["samples"][0])):
                text = " ".join(f"{k} {v}" for k, v in split.items())
                table.add_row(f"  split, {label} (ms)", text, "")
    if "learn_10k" in r:
        learnt = r["learn_10k"]
        table.add_row(
            "10,000 destinations learnt",
            f"[bold]{learnt['seconds']}[/bold] s ({learnt['learnt']:,} learnt; ARP asked "
            f"again {learnt.get('asked_again', [])})",
            "<= 2 s",
        )
    if "moved" in r:
        moved = r["moved"]["last_datagram_after_put_ms"]
        table.add_row(
            "moved port: last datagram via old host after PUT p50/p99",
            f"{moved['p50']} / {moved['p99']} ms",
            "<= 50 ms",
        )
        server = r["moved"].get("published_after_put_ms")
        if server:
            table.add_row(
                "  the server's part (PUT -> published, p50/p99)",
                f"{server['p50']} / {server['p99']} ms",
                "",
            )
    if "scan_65k" in r:
        scan = r["scan_65k"]
        table.add_row(
            "65k scan: DHCP / port ACTIVE, scan / quiet",
            f"[bold]{scan['dhcp_s']['ratio']}x / {scan['port_active_s']['ratio']}x[/bold]",
            "<= 2x",
        )
    for kind in ("network", "subnet"):
        change = r.get("netchange", {}).get(f"{kind}_put_to_published_ms")
        if change:
            table.add_row(
                f"{kind} changed: PUT -> published p50/p99",
                f"[bold]{change['p50']} / {change['p99']}[/bold] ms",
                "no growth with ports",
            )
    console.print(table)
    _save_steps(args, r, steps)


def _save_steps(args: argparse.Namespace, r: dict[str, Any], steps: tuple[str, ...]) -> None:
    """Part e's results; a subset of its steps replaces only those in the file when it holds
    a run of the same size, and `meta.steps` says when and at what load each was taken."""
    from benchmarks.dataplane_ondemand import STEPS

    path = Path(args.json_e)
    old = json.loads(path.read_text()) if path.exists() else {}
    if old.get("ports") != r["ports"] or set(steps) == set(STEPS):
        old = {}
    meta = old.pop("meta", {})
    taken = meta.get("steps") or {
        s: {k: meta[k] for k in ("time", "loadavg_1m_at_end")} for s in STEPS if meta
    }
    taken.update(dict.fromkeys(steps, _stamp()))
    _save(args, {**old, **r}, args.json_e, steps=taken)


def _stamp() -> dict[str, Any]:
    """When a measure was taken, and at what load."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def _save(args: argparse.Namespace, result: dict[str, Any], path: str, **meta: Any) -> None:
    """A part's results with when and at what load they were taken (and `meta`), as JSON (and
    a chart)."""
    result["meta"] = {**_stamp(), **meta}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1))
    _chart(args, path)


def _chart(args: argparse.Namespace, path: str) -> None:
    """`--plot`: the chart of a part's results (beside its JSON when several parts run)."""
    if args.plot is not None:
        plots.render(path, args.plot if args.part != "all" else None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--json", default=str(RESULTS))
    ap.add_argument("--prefix", default="b" + secrets.token_hex(2))
    ap.add_argument("--part", choices=["a", "b", "c", "d", "e", "stress", "all"], default="b")
    ap.add_argument("--json-stress", default=str(RESULTS_STRESS), help="stress: results file")
    ap.add_argument("--json-c", default=str(RESULTS_SG), help="part c: results file")
    ap.add_argument("--json-d", default=str(RESULTS_ROUTING), help="part d: results file")
    ap.add_argument("--json-e", default=str(RESULTS_ONDEMAND), help="part e: results file")
    ap.add_argument("--ports", type=int, default=100_000, help="part e: ports of the network")
    ap.add_argument("--steps", default="", help="part e: measures to take (comma-separated)")
    ap.add_argument("--vms", type=int, help="part a / stress: VMs to boot (150 / 2,400)")
    ap.add_argument("--hosts", type=int, help="part a / stress: hypervisors (3 / 10)")
    ap.add_argument(
        "--stack", choices=["v4", "dual", "both"], default="v4", help="part a: IPv4 or dual"
    )
    ap.add_argument("--mode", choices=["bulk", "concurrent", "both"], default="both")
    ap.add_argument("--json-a", default=str(RESULTS_API), help="part a: results file")
    ap.add_argument("--boot", choices=["on-active", "after-all-active"], default="on-active")
    ap.add_argument("--hook", choices=["lab", "lean"], default="lab", help="part a: udhcpc hook")
    ap.add_argument("--py-spy", default="", help="part a: profile server + agents into DIR")
    plots.add_flag(ap)
    args = ap.parse_args()
    if args.part == "stress":
        main_part_stress(args, Console())
        return
    if args.part in ("a", "all"):
        main_part_a(args, Console())
        if args.part == "a":
            return
    if args.part in ("c", "all"):
        main_part_c(args, Console())
        if args.part == "c":
            return
    if args.part in ("d", "all"):
        main_part_d(args, Console())
        if args.part == "d":
            return
    if args.part in ("e", "all"):
        main_part_e(args, Console())
        if args.part == "e":
            return
    sizes = [int(s) for s in args.sizes.split(",")]
    console = Console()
    nats = NatsServer(free_port())
    nats.start()
    lab = Lab(args.prefix)
    try:
        lab.up(1, nats.url, start_agents=False)
        results = {"part_b_neighbors": asyncio.run(part_b(lab, nats.url, sizes, console))}
    finally:
        lab.down()
        nats.close()
    table = Table(
        "entries", "flows", "apply s", "vswitchd CPU s", "+1 entry s", "leave s", "join s"
    )  # fmt: skip
    for r in results["part_b_neighbors"].values():
        table.add_row(
            f"{r['entries']:,}",
            f"{r['flows']:,}",
            f"[bold]{r['apply_s']:.3f}[/bold]",
            f"{r['cpu_s_during_apply']['vswitchd']:.2f}",
            f"{r['one_more_s']:.4f}",
            f"{r['leave_s']:.3f}",
            f"{r['join_s']:.3f}",
        )
    console.print(table)
    results["meta"] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "goal": "10k<=0.2s 100k<=2s",
        "cpus": os.cpu_count(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "before": {
            "commit": "915117c: every flow as ovs-ofctl text bundles",
            "old_clock": {  # deltas serialised inside the clock, publish blocking the loop
                "10000": {"apply_s": 0.8086, "leave_s": 0.3596},
                "100000": {"apply_s": 7.8592, "leave_s": 3.2611},
            },
            "this_clock": {  # this script run on 915117c's alcor/agent
                "10000": {"apply_s": 0.62, "one_more_s": 0.0186, "leave_s": 0.234, "join_s": 0.657},
                "100000": {
                    "apply_s": 5.581,
                    "one_more_s": 0.0297,
                    "leave_s": 2.547,
                    "join_s": 6.141,
                },
            },
        },
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    _chart(args, args.json)


if __name__ == "__main__":
    main()
