"""Part (stress) of `benchmarks/dataplane.py`: the original Alcor's headline stress test.

2,400 VMs created through the API across 10 real OVS hosts of the lab, all `ACTIVE` and
holding their DHCP leases (the original: 35 s on average; goal here <= 10 s). The round is
part (a)'s (`run_part_a`), at this size:

  before the clock  a real `alcor server` (embedded SQLite + NATS), 10 lab hosts with their
                    agents, and every VM's plumbing, what Nova/os-vif would do before the
                    port is wired: a namespace, a veth with the port's MAC, the host side's
                    nft guard. Its time is reported (`plumbing_s`) and added to the total in
                    `total_with_plumbing_s`: it is the lab's cost, not the control plane's.
  the clock         from the first API call (POST network, subnet, then the ports with
                    `binding:host_id`: one bulk POST, or one POST per port from 16 threads as
                    Nova's computes would) through the VIFs plugged the os-vif way (one OVSDB
                    transaction per host, hosts in parallel), each guest's DHCP exchange
                    started once its port is ACTIVE (`--hook lean`: the light client of
                    alcor/lab/dhcpclient.py, real DHCP over the VIF with no process per
                    guest; `--hook lab`: udhcpc and the lab's hook), to the last guest holding
                    its lease (address, routes and MTU applied).
  after it          pings between sampled VM pairs on different hosts, the provisioning
                    timeline of every port (where the time went, per stage and per host),
                    each agent's metrics (programming rounds, DHCP replies, CPU), and
                    `alcor audit` (every host in step with intent).

CPU seconds of every part during the clock (/proc and getrusage): the server (API, compiler,
status intake), its nats-server, the agents, ovs-vswitchd and ovsdb-server of every host,
the guests (with `--hook lab`, udhcpc, its hook, `ip`: children of this process) and this
process (the API client, watching, the light DHCP client's threads) — on 2 cores, what the
lab costs against the control plane.
Results: benchmarks/results/dataplane-stress.json.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from alcor.lab.host import Host
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.lab.vm import HOOK as VM_HOOK
from benchmarks import procstat
from benchmarks.dataplane import LEAN_HOOK, BenchVm, _close_sockets, _make_vms, run_part_a

AGENT_LOGS = "ALCOR_STRESS_AGENT_LOGS"
PHASES = (("start", "plugged"), ("plugged", "active"), ("active", "stop"))


class CpuMeter:
    """CPU seconds of the server, its NATS, each host's agent and OVS daemons, the guests and
    this process between the round's clock marks (`run_part_a`'s `clock`)."""

    def __init__(self, server: AlcorServer, lab: Lab) -> None:
        assert server.proc is not None
        self.pids: dict[str, list[int]] = {
            "server": [server.proc.pid],
            "nats-server": [p for p in [procstat.named_child(server.proc.pid, "nats-server")] if p],
            "agents": [p for h in lab.hosts.values() if (p := h.agent_pid())],
            "ovs-vswitchd": [h.daemon_pids()[0] for h in lab.hosts.values()],
            "ovsdb-server": [h.daemon_pids()[1] for h in lab.hosts.values()],
        }
        self.marks: dict[str, dict[str, float]] = {}

    def _now(self) -> dict[str, float]:
        now = {k: sum(procstat.cpu_seconds(p) for p in pids) for k, pids in self.pids.items()}
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        now["guests and plugging (children)"] = kids.ru_utime + kids.ru_stime
        now["benchmark process"] = time.process_time()
        return now

    def __call__(self, mark: str) -> None:
        self.marks[mark] = self._now()

    def used(self, start: str = "start", stop: str = "stop") -> dict[str, float]:
        first, last = self.marks[start], self.marks[stop]
        return {k: round(last[k] - first[k], 2) for k in first}

    def phases(self) -> dict[str, dict[str, float]]:
        """CPU seconds by phase: create and plug, until every port is ACTIVE, the rest."""
        return {f"{a}->{b}": self.used(a, b) for a, b in PHASES}


def agent_metrics(host: Host) -> dict[str, float]:
    """The counters of one agent that say where its time went (from its metrics port)."""
    assert host.metrics_url is not None
    with urllib.request.urlopen(host.metrics_url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "process_cpu_seconds_total":
                out["cpu_s"] = round(sample.value, 2)
            elif sample.name == "alcor_agent_programming_rounds_total":
                out["rounds"] = out.get("rounds", 0) + sample.value
            elif sample.name == "alcor_agent_programming_seconds_sum":
                out["programming_s"] = round(out.get("programming_s", 0) + sample.value, 3)
            elif sample.name == "alcor_agent_dhcp_replies_total":
                out["dhcp_replies"] = sample.value
    return out


def audit(server: AlcorServer, hosts: list[str], settle: float = 30) -> dict[str, Any]:
    """`alcor audit --json` of `hosts` (those not yet settled waited for up to `settle` s);
    clean when every one of them is in step with intent."""
    cmd = [sys.executable, "-m", "alcor", "audit", "--url", server.url, "--json"]
    cmd += ["--settle", str(settle)]
    cmd += [arg for host in hosts for arg in ("--host", host)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=settle + 90)
    found = json.loads(proc.stdout) if proc.stdout else []
    return {
        "exit": proc.returncode,
        "states": {a["host"]: a["state"] for a in found},
        "differs_in": {a["host"]: a["differs"] for a in found if a["differs"]},
        # "count:sum" reported and expected of each differing kind: an entry missing or extra
        # shows in the count, a misapplied one only in the sum
        "digests": {
            a["host"]: {k: [a["reported"].get(k), a["expected"].get(k)] for k in a["differs"]}
            for a in found
            if a["differs"]
        },
        "clean": proc.returncode == 0 and all(a["state"] == "in_step" for a in found),
    }


def _keep_agent_logs(lab: Lab) -> None:
    """With `ALCOR_STRESS_AGENT_LOGS=PREFIX`, copy each agent's debug log (one line per
    programming round: owners, compute and apply time) to PREFIX-<host>.log before the lab
    goes."""
    prefix = os.environ.get(AGENT_LOGS)
    for host in lab.hosts.values() if prefix else ():
        shutil.copy(host.agent_log, f"{prefix}-{host.name}.log")


def part_stress(
    prefix: str,
    hosts: int,
    count: int,
    mode: str,
    hook: str,
    console: Console,
    pings: int = 20,
) -> dict[str, Any]:
    """Set up, run one timed round of `count` VMs over `hosts` lab hosts, account, audit and
    tear everything down (also on failure)."""
    server = AlcorServer().start()
    lab = Lab(prefix)
    vms: list[BenchVm] = []
    try:
        lift_quotas(server.url)
        debug = ["--log-level", "debug"] if os.environ.get(AGENT_LOGS) else []
        lab.up(hosts, server.nats_url, credentials=server.credentials, agent_args=debug)
        deadline = time.monotonic() + 60
        agents = f"{server.url}/v2.0/agents"
        while sum(a["alive"] for a in httpx.get(agents).json()["agents"]) < hosts:
            if time.monotonic() > deadline:
                raise TimeoutError("agents did not register")
            time.sleep(0.2)
        for host in lab.hosts.values():
            lab.wait_bridge(host)
        t = time.monotonic()
        vms = _make_vms(lab, count, 0, LEAN_HOOK if hook == "lean" else VM_HOOK)
        plumbing = time.monotonic() - t
        console.log(f"plumbing of {count} VMs made in {plumbing:.1f} s (before the clock)")
        meter = CpuMeter(server, lab)
        result = run_part_a(server, lab, vms, mode, 0, console, pings=pings, clock=meter)
        result["plumbing_s"] = round(plumbing, 2)
        result["total_with_plumbing_s"] = round(plumbing + result["total_s"], 2)
        result["cpu_s_during_clock"] = meter.used()
        result["cpu_s_by_phase"] = meter.phases()
        result["agents"] = {name: agent_metrics(h) for name, h in sorted(lab.hosts.items())}
        result["audit"] = audit(server, sorted(lab.hosts))
        result["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
        return result
    finally:
        _close_sockets(vms)
        _keep_agent_logs(lab)
        lab.down()
        server.cleanup()
