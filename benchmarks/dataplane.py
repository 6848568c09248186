"""Data-plane benchmark: how fast a real agent programs a real (userspace) OVS.

Usage (root; needs openvswitch-switch):
  .venv/bin/python benchmarks/dataplane.py                   # part b, 10k and 100k entries
  options: --sizes 10000,100000,1000000 --json PATH --prefix P

Part (b), neighbour tables: one simulated hypervisor from the lab (its own ovsdb-server and
ovs-vswitchd, netdev datapath), the agent running in this process with its real code path
(NATS subscription, seq chain, model, flow compiler, reconciler, `ovs-ofctl --bundle`), a real
nats-server and the test controller stand-in. Per size N, a fresh network gets one local
port (the agent joins it), then N remote neighbours spread over 100 VTEPs are published as
NeighborDelta messages (split to fit NATS max_payload). Timed:
  apply       first delta published -> every flow acknowledged by OVS (one or few bundles)
  bundle      the ovs-ofctl bundle time of the largest programming round
  one_more    one extra neighbour added to that N-entry network (incremental delta)
  leave       the local port removed: the agent leaves the network, its flows are deleted
Goals: 10k entries <= 0.2 s, 100k <= 2 s (apply). Results: benchmarks/results/dataplane.json.

Part (a), 150 VMs end to end through the API, comes with the server: add it as another
`part_*` function writing its own key in the same JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from alcor.agent.main import Agent
from alcor.config import AgentSettings
from alcor.lab.lab import Lab
from alcor.southbound import goalstate_pb2 as pb
from alcor.southbound.nats_server import NatsServer, free_port
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
            ctl.add_network(net_id, 1000 + round_no, "10.0.0.0/8", "10.0.0.1")
            before = agent.programs
            idle = len(agent.reconciler)
            ctl.add_port(f"{net_id}-local", "h1", net_id, "10.0.0.5", "fa:16:3e:aa:00:05")
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
            t0 = time.monotonic()
            for start in range(0, n, CHUNK):
                ctl.call(ctl.publish_neighbors(net_id, entries[start : start + CHUNK]))
            t1 = await wait_flows(agent, base + 2 * n, 600)
            bundle = agent.reconciler.last_apply_s
            extra = neighbor(n, net_id)
            t2 = time.monotonic()
            ctl.call(ctl.publish_neighbors(net_id, [extra]))
            t3 = await wait_flows(agent, base + 2 * n + 2, 60)
            one_more_lines = agent.reconciler.last_lines
            t4 = time.monotonic()
            ctl.delete_port(f"{net_id}-local")
            while len(agent.reconciler) > idle:
                await asyncio.sleep(0.005)
            t5 = time.monotonic()
            out[str(n)] = {
                "entries": n,
                "flows": 2 * n,
                "apply_s": round(t1 - t0, 4),
                "last_bundle_s": round(bundle, 4),
                "one_more_s": round(t3 - t2, 4),
                "one_more_bundle_lines": one_more_lines,
                "leave_s": round(t5 - t4, 4),
            }
            console.log(f"{n} neighbours: {out[str(n)]}")
            for e in entries:
                ctl.ports.pop(e.port_id, None)
    finally:
        await agent.stop()
        ctl.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--json", default=str(RESULTS))
    ap.add_argument("--prefix", default="b" + secrets.token_hex(2))
    args = ap.parse_args()
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
    table = Table("entries", "flows", "apply s", "last bundle s", "+1 entry s", "leave s")
    for r in results["part_b_neighbors"].values():
        table.add_row(
            f"{r['entries']:,}",
            f"{r['flows']:,}",
            f"{r['apply_s']:.3f}",
            f"{r['last_bundle_s']:.3f}",
            f"{r['one_more_s']:.4f}",
            f"{r['leave_s']:.3f}",
        )
    console.print(table)
    results["meta"] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "goal": "10k<=0.2s 100k<=2s"}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
