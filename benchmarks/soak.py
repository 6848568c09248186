"""Soak benchmark (not in CI): an hour of mixed churn, memory of every process, audit at the end.

Usage (root; needs openvswitch-switch):
  .venv/bin/python benchmarks/soak.py --minutes 60 --sim-hosts 100 --real-hosts 3
  options: --rate OPS_PER_S (2) --sample-s S (60) --flat-mb-per-hour MB (10) --seed N
           --json PATH --prefix P --plot [PNG]

What runs: a real `alcor server` (embedded SQLite + NATS), `alcor sim` with the simulated
hosts (one process), and a lab of real OVS hosts with their agents. Set up through the API
(not churned): an external flat network on the lab's outside segment, a router with its
gateway there, four tenant networks on it, a security group whose rules name itself as remote
group, and a pool of floating IPs. Then, at a steady rate (one operation every 1/rate s, the
kind drawn with fixed weights from a seeded generator):

  port       a port bound to a simulated host on a tenant network, in the group (the oldest
             deleted once 200 are held)
  vm         a real VM on a lab host: port, namespace, VIF plugged, DHCP lease (the oldest
             removed, VIF and port, once 3 per host are held)
  network    a network with a subnet, attached to the router; or the oldest of 4 detached
             and deleted
  interface  a held network's router interface removed, or added back
  rule       a rule added to the group (tcp, a random port), the oldest removed beyond 20
  fip        a floating IP of the pool associated with a random held port, or disassociated

Every minute (`--sample-s`) the resident memory of every process is sampled: the server, its
nats-server, the simulator, and each host's agent, ovs-vswitchd and ovsdb-server. A process
is flat when the least-squares slope of its RSS over the second half of the run is at most
`--flat-mb-per-hour` (default 10 MB/h; the first half holds warm-up: caches, allocator arenas,
the churned pools filling up). At the end `alcor audit` of the real hosts must be clean
(simulated hosts report no digests) and no operation may have failed.
Results: benchmarks/results/soak.json (samples, slopes, operations, audit).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.console import Console
from rich.table import Table

from alcor.lab.lab import Lab
from alcor.lab.netns import LabError
from alcor.lab.server_process import AlcorServer, lift_quotas
from benchmarks import plots, procstat
from benchmarks.dataplane_stress import audit

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
SIM_PORTS = 200
VMS_PER_HOST = 3
SCRATCH_NETWORKS = 4
RULES = 20
FIPS = 10
WEIGHTS = {"port": 6, "vm": 1, "network": 1, "interface": 1, "rule": 3, "fip": 2}


class ApiError(RuntimeError):
    """An API call the soak made failed (it must never)."""


class Soak:
    """The churn: what it holds, and one method per kind of operation."""

    def __init__(self, server: AlcorServer, lab: Lab, sim_prefix: str, seed: int) -> None:
        self.api = httpx.Client(base_url=server.url, timeout=60)
        self.lab = lab
        self.prefix = lab.prefix
        self.rng = random.Random(seed)
        self.sim_hosts: list[str] = []
        self.sim_prefix = sim_prefix
        self.networks: list[dict[str, Any]] = []  # the tenant networks (with "subnet_id")
        self.scratch: collections.deque[dict[str, Any]] = collections.deque()
        self.ports: collections.deque[str] = collections.deque()
        self.vms: collections.deque[tuple[str, str]] = collections.deque()  # (vm name, port)
        self.rules: collections.deque[tuple[str, int]] = collections.deque()  # (id, tcp port)
        self.fips: dict[str, str | None] = {}  # floating IP -> the port it is associated with
        self.cidrs = 0
        self.router = ""
        self.group = ""
        self.serial = 0
        self.done: collections.Counter[str] = collections.Counter()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.api.request(method, path, json=body)
        if resp.status_code >= 300:
            raise ApiError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def name(self, kind: str) -> str:
        self.serial += 1
        return f"{self.prefix}-{kind}{self.serial}"

    # -- set-up ------------------------------------------------------------------------------
    def setup(self, sim_hosts: list[str]) -> None:
        self.sim_hosts = sim_hosts
        ext = self.call(
            "POST",
            "/v2.0/networks",
            {
                "network": {
                    "name": self.name("ext"),
                    "router:external": True,
                    "provider:network_type": "flat",
                    "provider:physical_network": "external",
                }
            },
        )["network"]
        self.call(
            "POST",
            "/v2.0/subnets",
            {
                "subnet": {
                    "network_id": ext["id"],
                    "cidr": "203.0.113.0/24",
                    "gateway_ip": "203.0.113.1",
                    "enable_dhcp": False,
                    "ip_version": 4,
                }
            },
        )
        gateway = {"network_id": ext["id"]}
        router = {"name": self.name("router"), "external_gateway_info": gateway}
        self.router = self.call("POST", "/v2.0/routers", {"router": router})["router"]["id"]
        group = self.call("POST", "/v2.0/security-groups", {"security_group": {"name": "soak"}})
        self.group = group["security_group"]["id"]
        self._rule({"remote_group_id": self.group, "protocol": "icmp"})
        for i in range(4):
            self.networks.append(self._network(f"10.{i}.0.0/16"))
        for _ in range(FIPS):
            fip = {"floating_network_id": ext["id"]}
            made = self.call("POST", "/v2.0/floatingips", {"floatingip": fip})["floatingip"]
            self.fips[made["id"]] = None

    def _network(self, cidr: str) -> dict[str, Any]:
        net = self.call("POST", "/v2.0/networks", {"network": {"name": self.name("net")}})[
            "network"
        ]
        sub = {"network_id": net["id"], "cidr": cidr, "ip_version": 4}
        net["subnet_id"] = self.call("POST", "/v2.0/subnets", {"subnet": sub})["subnet"]["id"]
        self.call(
            "PUT",
            f"/v2.0/routers/{self.router}/add_router_interface",
            {"subnet_id": net["subnet_id"]},
        )
        net["attached"] = True
        return net

    def _rule(self, extra: dict[str, Any]) -> str:
        rule = {"security_group_id": self.group, "direction": "ingress", **extra}
        created = self.call("POST", "/v2.0/security-group-rules", {"security_group_rule": rule})
        return str(created["security_group_rule"]["id"])

    def _port(self, host: str, network: dict[str, Any]) -> dict[str, Any]:
        body = {
            "name": self.name("port"),
            "network_id": network["id"],
            "binding:host_id": host,
            "device_owner": "compute:nova",
            "device_id": self.name("dev"),
            "security_groups": [self.group],
        }
        return dict(self.call("POST", "/v2.0/ports", {"port": body})["port"])

    # -- the operations ----------------------------------------------------------------------
    def op_port(self) -> None:
        port = self._port(self.rng.choice(self.sim_hosts), self.rng.choice(self.networks))
        self.ports.append(port["id"])
        if len(self.ports) > SIM_PORTS:
            self.call("DELETE", f"/v2.0/ports/{self.ports.popleft()}")

    def op_vm(self) -> None:
        if len(self.vms) >= VMS_PER_HOST * len(self.lab.hosts):
            name, port_id = self.vms.popleft()
            self.lab.remove_vm(name)
            self.call("DELETE", f"/v2.0/ports/{port_id}")
            return
        host = self.rng.choice(sorted(self.lab.hosts))
        port = self._port(host, self.rng.choice(self.networks))
        name = f"s{self.serial}"
        vm = self.lab.add_vm(host, port["id"], port["mac_address"], name=name)
        if vm.lease().get("ip") != port["fixed_ips"][0]["ip_address"]:
            raise ApiError(f"VM {name} leased {vm.lease()} for {port['fixed_ips']}")
        self.vms.append((name, port["id"]))

    def op_network(self) -> None:
        if len(self.scratch) >= SCRATCH_NETWORKS:
            net = self.scratch.popleft()
            if net["attached"]:
                path = f"/v2.0/routers/{self.router}/remove_router_interface"
                self.call("PUT", path, {"subnet_id": net["subnet_id"]})
            self.call("DELETE", f"/v2.0/networks/{net['id']}")
            return
        self.cidrs += 1  # at most SCRATCH_NETWORKS held: a cycle of 150 never overlaps
        self.scratch.append(self._network(f"10.{100 + self.cidrs % 150}.0.0/24"))

    def op_interface(self) -> None:
        if not self.scratch:
            return self.op_network()
        net = self.rng.choice(self.scratch)
        action = "remove_router_interface" if net["attached"] else "add_router_interface"
        self.call("PUT", f"/v2.0/routers/{self.router}/{action}", {"subnet_id": net["subnet_id"]})
        net["attached"] = not net["attached"]
        return None

    def op_rule(self) -> None:
        held = {port for _, port in self.rules}  # a duplicate rule is Neutron's 409
        port = self.rng.choice([p for p in range(1024, 1024 + 4 * RULES) if p not in held])
        rule = {"protocol": "tcp", "port_range_min": port, "port_range_max": port}
        self.rules.append((self._rule(rule), port))
        if len(self.rules) > RULES:
            self.call("DELETE", f"/v2.0/security-group-rules/{self.rules.popleft()[0]}")

    def op_fip(self) -> None:
        taken = set(self.fips.values())  # a fixed IP takes one floating IP (Neutron's 409)
        free = [p for p in [*self.ports, *(port for _, port in self.vms)] if p not in taken]
        fip = self.rng.choice(sorted(self.fips))
        port = self.rng.choice(free) if free and self.rng.random() < 0.7 else None
        self.call("PUT", f"/v2.0/floatingips/{fip}", {"floatingip": {"port_id": port}})
        self.fips[fip] = port

    def step(self) -> str:
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        ops: dict[str, Callable[[], None]] = {
            "port": self.op_port,
            "vm": self.op_vm,
            "network": self.op_network,
            "interface": self.op_interface,
            "rule": self.op_rule,
            "fip": self.op_fip,
        }
        ops[kind]()
        self.done[kind] += 1
        return kind


def processes(server: AlcorServer, sim: subprocess.Popen[bytes], lab: Lab) -> dict[str, int]:
    """Every process whose memory is sampled, by name."""
    assert server.proc is not None
    out = {"server": server.proc.pid, "simulator": sim.pid}
    nats = procstat.named_child(server.proc.pid, "nats-server")
    if nats:
        out["nats-server"] = nats
    for name, host in sorted(lab.hosts.items()):
        agent = host.agent_pid()
        if agent:
            out[f"{name} agent"] = agent
        vswitchd, ovsdb = host.daemon_pids()
        out[f"{name} ovs-vswitchd"], out[f"{name} ovsdb-server"] = vswitchd, ovsdb
    return out


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(m for _, m in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    cov = sum((t - mx) * (m - my) for t, m in points)
    return cov / var * 3600 if var else 0.0


def start_simulator(server: AlcorServer, prefix: str, hosts: int) -> subprocess.Popen[bytes]:
    creds = server.credentials(prefix, fleet=True)
    cmd = [sys.executable, "-m", "alcor", "sim", "--hosts", str(hosts), "--prefix", prefix]
    cmd += ["--nats-url", server.nats_url, "--nats-credentials", str(creds)]
    log = (server.tmp / "sim.log").open("ab")
    return subprocess.Popen(
        cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )


def resyncs(agent_log: str) -> list[str]:
    """The agent's account of each resync the audit asked for: what it repaired."""
    with open(agent_log, errors="replace") as log:
        return [line.strip() for line in log if "resync" in line and "repaired" in line]


def wait_agents(api: httpx.Client, count: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        alive = [a["host"] for a in api.get("/v2.0/agents").json()["agents"] if a["alive"]]
        if len(alive) >= count:
            return alive
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(alive)} of {count} agents alive after {timeout} s")
        time.sleep(0.5)


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    server = AlcorServer().start()
    lab = Lab(args.prefix)
    sim: subprocess.Popen[bytes] | None = None
    try:
        lift_quotas(server.url)
        sim_prefix = f"{args.prefix}s"
        sim = start_simulator(server, sim_prefix, args.sim_hosts)
        lab.up(args.real_hosts, server.nats_url, credentials=server.credentials)
        soak = Soak(server, lab, sim_prefix, args.seed)
        hosts = wait_agents(soak.api, args.sim_hosts + args.real_hosts, 120)
        for host in lab.hosts.values():
            lab.wait_bridge(host)
        soak.setup([h for h in hosts if h.startswith(f"{sim_prefix}-")])
        pids = processes(server, sim, lab)
        samples: list[dict[str, Any]] = []
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        next_sample = t0
        next_op = t0
        errors: list[str] = []
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(
                    {
                        "t": round(now - t0, 1),
                        **{k: round(procstat.rss_mb(p), 2) for k, p in pids.items()},
                    }
                )
                console.log(
                    f"{samples[-1]['t']:.0f} s: {dict(soak.done)} load {os.getloadavg()[0]:.1f}"
                )
                next_sample += args.sample_s
            if now >= next_op:
                try:
                    soak.step()
                except (ApiError, LabError) as exc:
                    errors.append(str(exc))
                    console.log(f"[red]{exc}[/red]")
                next_op = max(next_op + 1 / args.rate, time.monotonic() - 1 / args.rate)
            time.sleep(max(0.0, min(next_op, next_sample, end) - time.monotonic()))
        samples.append(
            {
                "t": round(time.monotonic() - t0, 1),
                **{k: round(procstat.rss_mb(p), 2) for k, p in pids.items()},
            }
        )
        # two audit intervals and a resync: a host that differs is resynced after two
        # consecutive differing reports (`southbound.audit`)
        found = audit(server, sorted(lab.hosts), settle=90)
        repaired = {name: resyncs(host.agent_log) for name, host in lab.hosts.items()}
        half = samples[-1]["t"] / 2
        memory = {}
        for name in pids:
            points = [(s["t"], s[name]) for s in samples if s["t"] >= half]
            slope = slope_mb_per_hour(points)
            memory[name] = {
                "first_mb": samples[0][name],
                "last_mb": samples[-1][name],
                "max_mb": max(s[name] for s in samples),
                "slope_second_half_mb_per_h": round(slope, 2),
                "flat": slope <= args.flat_mb_per_hour,
            }
        return {
            "minutes": args.minutes,
            "sim_hosts": args.sim_hosts,
            "real_hosts": args.real_hosts,
            "rate_per_s": args.rate,
            "operations": dict(soak.done),
            "api_errors": errors,
            "memory": memory,
            "flat_threshold_mb_per_h": args.flat_mb_per_hour,
            "all_flat": all(m["flat"] for m in memory.values()),
            "audit": found,
            "resyncs": repaired,
            "samples": samples,
        }
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait(30)
        lab.down()
        server.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--sim-hosts", type=int, default=100)
    ap.add_argument("--real-hosts", type=int, default=3)
    ap.add_argument("--rate", type=float, default=2.0, help="operations per second")
    ap.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--flat-mb-per-hour", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=str(RESULTS))
    ap.add_argument("--prefix", default="k" + secrets.token_hex(2))
    plots.add_flag(ap)
    args = ap.parse_args()
    console = Console(width=150)
    result = run(args, console)
    table = Table("process", "RSS first MB", "last MB", "max MB", "slope 2nd half MB/h", "flat")
    for name, m in result["memory"].items():
        table.add_row(
            name,
            f"{m['first_mb']:.1f}",
            f"{m['last_mb']:.1f}",
            f"{m['max_mb']:.1f}",
            f"{m['slope_second_half_mb_per_h']:+.1f}",
            "yes" if m["flat"] else "[red]no[/red]",
        )
    console.print(table)
    console.print(
        f"{args.minutes} min, {sum(result['operations'].values())} operations "
        f"{result['operations']}, API errors {len(result['api_errors'])}, audit "
        + ("clean" if result["audit"]["clean"] else f"NOT clean {result['audit']['states']}")
    )
    for host, lines in result["resyncs"].items():
        console.print(f"{host}: {len(lines)} resyncs asked by the audit", *lines, sep="\n  ")
    result["meta"] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }
    plots.save(args.json, result, args.plot)
    ok = result["all_flat"] and result["audit"]["clean"] and not result["api_errors"]
    if not ok:
        raise SystemExit("soak: memory grew, the audit is not clean, or API calls failed")


if __name__ == "__main__":
    main()
