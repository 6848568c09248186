"""Data-plane benchmark, part (c): security groups on one real host, through the real API.

`benchmarks/dataplane.py --part c` runs it (root; openvswitch-switch). A real `alcor server`
(embedded SQLite + NATS) and one lab hypervisor (its own ovsdb-server and ovs-vswitchd,
netdev datapath) whose agent runs in this process with its real code path, so the bench can
watch the agent's installed flows at millisecond resolution. Set up before any clock:
a network, 1,000 member ports in group C (bound elsewhere), and group S with 100 rules: 50 plain
(tcp ports from a /24 each) and 50 with `remote_group_id` C (25 ingress, 25 egress); 50 ports
bound to the host in S, their VIFs plugged as OVS internal ports (Nova-style iface-id).
Measured:
  flows          security-group flows on the host (the agent's index, and OVS's dump-aggregate)
  program_s      one computation of every security-group flow plus one replace-flows of the
                 whole bridge (a restarted agent's first round), best of 3
  join p50/p99   PUT of one more port into C (the request leaves) -> the new member's flows
                 installed on the host; `leave` the same for leaving C
Goals (issue "Security groups and network ACLs enforced on every host"): flows <= 25,000,
program <= 0.5 s, join p50 <= 20 ms.
Neutron, computed from its design rather than run: its OVS firewall also uses conjunctive
flows for remote groups (one conjunction per (group, remote group, direction, ethertype),
dimension 1 one flow per member address per conjunction), so its flow count is of the same
order as ours; what a naive design without conjunctions would install is rules x members
per port, given as `naive_flows`. Neutron's RPC, by contrast, sends every member of every
remote group with each port's security-group info (`security_group_info_for_devices`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from alcor.agent import flows, security
from alcor.agent.main import Agent
from alcor.config import AgentSettings
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer, lift_quotas
from benchmarks import stats

MEMBERS = 1000
PORTS = 50
PLAIN, REMOTE = 50, 50
SAMPLES = 20
# Where the remote group's members are bound: a host without an agent (their binding fails,
# but they are bound, and a group's address set holds its bound members).
MEMBER_HOST = "members-elsewhere"


def _post(http: httpx.Client, kind: str, body: Any) -> Any:
    key = kind.replace("-", "_")
    plural = isinstance(body, list)
    resp = http.post(f"/v2.0/{kind}s", json={f"{key}s" if plural else key: body})
    resp.raise_for_status()
    return resp.json()[f"{key}s" if plural else key]


def _setup(http: httpx.Client, host_id: str) -> dict[str, Any]:
    net = _post(http, "network", {"name": "sgbench"})
    _post(http, "subnet", {"network_id": net["id"], "cidr": "10.50.0.0/16", "ip_version": 4})
    clients = _post(http, "security-group", {"name": "clients"})
    server = _post(http, "security-group", {"name": "servers"})
    rules = [
        {
            "security_group_id": server["id"],
            "direction": "ingress",
            "protocol": "tcp",
            "port_range_min": 1000 + i,
            "port_range_max": 1000 + i,
            "remote_ip_prefix": f"10.9.{i}.0/24",
        }
        for i in range(PLAIN)
    ] + [
        {
            "security_group_id": server["id"],
            "direction": "ingress" if i % 2 == 0 else "egress",
            "protocol": "tcp",
            "port_range_min": 2000 + i,
            "port_range_max": 2000 + i,
            "remote_group_id": clients["id"],
        }
        for i in range(REMOTE)
    ]
    _post(http, "security-group-rule", rules)
    for start in range(0, MEMBERS, 500):
        n = min(500, MEMBERS - start)
        _post(
            http,
            "port",
            [
                {
                    "network_id": net["id"],
                    "security_groups": [clients["id"]],
                    "binding:host_id": MEMBER_HOST,
                }
                for _ in range(n)
            ],
        )
    local = _post(
        http,
        "port",
        [
            {"network_id": net["id"], "security_groups": [server["id"]], "binding:host_id": host_id}
            for _ in range(PORTS)
        ],
    )
    spare = _post(
        http,
        "port",
        [{"network_id": net["id"], "security_groups": [], "binding:host_id": MEMBER_HOST}],
    )[0]
    return {"net": net, "clients": clients, "server": server, "local": local, "spare": spare}


def _plug(lab: Lab, ports: list[dict[str, Any]]) -> None:
    host = lab.hosts["h1"]
    args: list[str] = []
    for i, port in enumerate(ports):
        name = f"sgb{i}"
        args += ["--", "--may-exist", "add-port", "br-int", name, "--", "set", "Interface", name]
        args += ["type=internal", f"external_ids:iface-id={port['id']}"]
    host.vsctl(*args)


def _sg_flows(agent: Agent) -> int:
    kinds = {security.KIND_SG_PORT, security.KIND_ADDRESS_SET, security.KIND_SET_MEMBER}
    return sum(
        len(keys)
        for ck, keys in agent.reconciler.by_cookie.items()
        if flows.cookie_kind(ck) in kinds
    )


async def _until(check: Any, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the host did not converge")
        await asyncio.sleep(0.0005)
    return time.monotonic()


async def _measure(lab: Lab, srv: AlcorServer) -> dict[str, Any]:
    host = lab.hosts["h1"]
    agent = Agent(
        AgentSettings(
            host_id="h1",
            tunnel_ip=host.tunnel_ip,
            nats_url=srv.nats_url,
            nats_credentials=str(srv.credentials("h1")),
            ovsdb=host.db,
            ovs_rundir=host.dir,
            datapath_type="netdev",
        )
    )
    await agent.start()  # registered and alive before ports are bound to it
    try:

        def build() -> dict[str, Any]:
            with httpx.Client(base_url=srv.url, timeout=120) as http:
                world = _setup(http, "h1")
            _plug(lab, world["local"])
            return world

        world = await asyncio.to_thread(build)
        await _until(lambda: agent.programmed_once and len(agent.model.vifs) == PORTS, 60)
        await _until(lambda: _sg_flows(agent) > PORTS * PLAIN and not agent.dirty, 60)
        program = []
        for _ in range(3):
            t0 = time.monotonic()
            full = agent.model.full()
            await agent.reconciler.resync(full, agent.model.all_neighbor_updates())
            program.append(time.monotonic() - t0)
        in_ovs = int(host.ofctl("dump-aggregate", host.mgmt()).split("flow_count=")[1].split()[0])
        spare = world["spare"]
        ip = spare["fixed_ips"][0]["ip_address"]
        member = flows.cookie(security.KIND_SET_MEMBER, ip)
        joins, leaves = [], []
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
            for _ in range(SAMPLES):
                for groups, present, out in (
                    ([world["clients"]["id"]], True, joins),
                    ([], False, leaves),
                ):
                    t0 = time.monotonic()
                    resp = await http.put(
                        f"/v2.0/ports/{spare['id']}", json={"port": {"security_groups": groups}}
                    )
                    resp.raise_for_status()
                    done = await _until(
                        lambda p=present: (member in agent.reconciler.by_cookie) == p
                    )
                    out.append((done - t0) * 1000)
        sg = _sg_flows(agent)
        return {
            "ports": PORTS,
            "rules_per_port": PLAIN + REMOTE,
            "remote_group_members": MEMBERS,
            "sg_flows": sg,
            "flows_in_ovs": in_ovs,
            "naive_flows": PORTS * REMOTE * MEMBERS + PORTS * PLAIN,
            "program_s": round(min(program), 4),
            "join_ms": stats.summary(joins, digits=2),
            "leave_ms": stats.summary(leaves, digits=2),
        }
    finally:
        await agent.stop()


def part_c(prefix: str) -> dict[str, Any]:
    """Run part (c) on a fresh server and one lab host; returns its figures."""
    with AlcorServer() as srv:
        lift_quotas(srv.url)
        lab = Lab(prefix)
        try:
            lab.up(1, srv.nats_url, start_agents=False)
            return asyncio.run(_measure(lab, srv))
        finally:
            lab.down()
