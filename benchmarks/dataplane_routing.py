"""Part (d) of `benchmarks/dataplane.py`: distributed routing on 3 real hosts.

A real `alcor server` (embedded SQLite + NATS) and a 3-host lab. Through the API (not timed):
one router with 100 subnets (one network each, 10.200.<i>.0/24), and 1,000 ports spread over
the subnets and the hosts, plugged as OVS internal interfaces (no namespaces: this part is
about flows), all ACTIVE. Measured:

  flows/host      OpenFlow flows on each host's br-int (dump-aggregate) once all are ACTIVE
  ports ACTIVE s  first port POST -> the 1,000th port ACTIVE (API, compiler, NATS, 3 agents)
  program s       one host's agent killed, its bridge emptied (del-flows), the agent started
                  again: start -> the bridge holds as many flows as before (includes the
                  agent's start, registration and full-state fetches)
  RTT             three VM namespaces (DHCP from the agents): A1 (h1) pings A2 (h2, same
                  subnet) and B1 (h3, another subnet, through the router), interleaved, 5
                  rounds of 40 pings each; p50 of every RTT; overhead = routed / same - 1
                  (goal <= 20 %)
  FIP             the router gets its gateway on a flat external network (the lab's outside
                  world, 203.0.113.0/24), A1 a group admitting UDP; the outside namespace
                  sends a datagram to the floating IP every 2 ms while it is associated with
                  A1: PUT returned -> first datagram received in A1, 10 times (disassociated
                  and DOWN in between); goal p50 <= 100 ms. Then moved between A1 (h1) and
                  A2 (h2), 6 times: PUT returned -> first datagram at the new VM (goal: within
                  a second)
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
import uuid
from typing import Any

import httpx
from rich.console import Console

from alcor.lab.host import Host
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.lab.vm import HOOK as VM_HOOK
from benchmarks import stats
from benchmarks.dataplane import BenchVm, _make_vms, _plug, _sh

SUBNETS = 100
PORTS = 1000
ROUNDS = 5
PINGS = 40


def _flow_count(host: Host) -> int:
    out = host.ofctl("dump-aggregate", host.mgmt())
    found = re.search(r"flow_count=(\d+)", out)
    return int(found.group(1)) if found else 0


def _plug_internal(host: Host, ports: list[dict[str, Any]]) -> None:
    """Plug ports as OVS internal interfaces, Nova's external_ids, one OVSDB transaction."""
    args: list[str] = ["--timeout=120"]
    for i, port in enumerate(ports):
        name = f"rt{i}"
        args += ["--", "--may-exist", "add-port", "br-int", name]
        args += ["--", "set", "Interface", name, "type=internal"]
        args += [f"external_ids:iface-id={port['id']}", f"external_ids:vm-uuid={uuid.uuid4()}"]
        args += [f"external_ids:attached-mac={port['mac_address']}"]
        args += ["external_ids:iface-status=active"]
    host.vsctl(*args)


def _wait_active(api: httpx.Client, ids: set[str], timeout: float) -> float:
    """Poll until every port of `ids` is ACTIVE (listed per host: a page holds 1,000)."""
    t0 = time.monotonic()
    while True:
        active: set[str] = set()
        for host in ("h1", "h2", "h3"):
            params = {"fields": ["id", "status"], "binding:host_id": host, "status": "ACTIVE"}
            active |= {p["id"] for p in api.get("/v2.0/ports", params=params).json()["ports"]}
        if ids <= active:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("ports did not turn ACTIVE")
        time.sleep(0.05)


def _rtts(vm_ns: str, target: str) -> list[float]:
    out = _sh(["ip", "netns", "exec", vm_ns, "ping", "-c", str(PINGS), "-i", "0.01", target])
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    resp = api.post(path, json=body)
    if resp.status_code != 201:
        raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:300]}")
    return resp.json()


def part_d(prefix: str, console: Console) -> dict[str, Any]:
    server = AlcorServer().start()
    lift_quotas(server.url)
    lab = Lab(prefix)
    api = httpx.Client(base_url=server.url, timeout=120)
    try:
        lab.up(3, server.nats_url, credentials=server.credentials)
        for host in lab.hosts.values():
            lab.wait_bridge(host)
        router = _post(api, "/v2.0/routers", {"router": {"name": f"{prefix}-r"}})["router"]
        nets = _post(
            api,
            "/v2.0/networks",
            {"networks": [{"name": f"{prefix}-n{i}"} for i in range(SUBNETS)]},
        )["networks"]
        subnets = _post(
            api,
            "/v2.0/subnets",
            {
                "subnets": [
                    {"network_id": n["id"], "ip_version": 4, "cidr": f"10.200.{i}.0/24"}
                    for i, n in enumerate(nets)
                ]
            },
        )["subnets"]
        for sub in subnets:
            resp = api.put(
                f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}
            )
            resp.raise_for_status()
        console.log(f"router with {SUBNETS} subnets")
        names = sorted(lab.hosts)
        bodies = [
            {
                "network_id": nets[i % SUBNETS]["id"],
                "device_owner": "compute:nova",
                "device_id": str(uuid.uuid4()),
                "binding:host_id": names[i % len(names)],
            }
            for i in range(PORTS)
        ]
        t0 = time.monotonic()
        ports = []
        for start in range(0, PORTS, 250):
            ports += _post(api, "/v2.0/ports", {"ports": bodies[start : start + 250]})["ports"]
        for name in names:
            _plug_internal(lab.hosts[name], [p for p in ports if p["binding:host_id"] == name])
        _wait_active(api, {p["id"] for p in ports}, 300)
        active_s = time.monotonic() - t0
        console.log(f"{PORTS} ports ACTIVE in {active_s:.2f} s")
        time.sleep(2)  # the last neighbour deltas land on every host
        flows = {name: _flow_count(lab.hosts[name]) for name in names}

        victim = lab.hosts[names[-1]]
        victim.stop_agent(hard=True)
        victim.ofctl("del-flows", victim.mgmt())
        t1 = time.monotonic()
        victim.start_agent(server.nats_url)
        while _flow_count(victim) < flows[victim.name]:
            if time.monotonic() - t1 > 120:
                raise TimeoutError("the restarted agent did not program its bridge")
            time.sleep(0.02)
        program_s = time.monotonic() - t1
        console.log(f"{victim.name} programmed from nothing in {program_s:.2f} s")

        vms: list[BenchVm] = _make_vms(lab, 3, 9, VM_HOOK)
        for vm, net_index in zip(vms, (0, 0, 1), strict=True):  # A1 (h1), A2 (h2), B1 (h3)
            port = _post(
                api,
                "/v2.0/ports",
                {
                    "port": {
                        "network_id": nets[net_index]["id"],
                        "mac_address": vm.mac,
                        "device_owner": "compute:nova",
                        "device_id": str(uuid.uuid4()),
                        "binding:host_id": vm.host.name,
                    }
                },
            )["port"]
            vm.port_id, vm.ip = port["id"], port["fixed_ips"][0]["ip_address"]
        rtt = _rtt(api, vms)
        fip_ms = _fip_latency(api, lab, router["id"], vms[:2])
        out = {
            "subnets": SUBNETS,
            "ports": PORTS,
            "flows_per_host": flows,
            "ports_active_s": round(active_s, 3),
            "program_from_nothing_s": round(program_s, 3),
            **rtt,
            "fip_first_packet_ms": fip_ms,
        }
        console.log(f"part d: {out}")
        return out
    finally:
        api.close()
        lab.down()
        server.stop()


def _rtt(api: httpx.Client, vms: list[BenchVm]) -> dict[str, Any]:
    """Same-subnet vs routed RTT from A1, interleaved (see the module docstring)."""
    for vm in vms:
        _plug(vm.host, [vm])
    _wait_active(api, {vm.port_id for vm in vms}, 60)
    for vm in vms:
        vm.dhcp()
    a1, a2, b1 = vms
    same: list[float] = []
    routed: list[float] = []
    _rtts(a1.ns, a2.ip), _rtts(a1.ns, b1.ip)  # warm ARP caches and conntrack
    for _ in range(ROUNDS):
        same += _rtts(a1.ns, a2.ip)
        routed += _rtts(a1.ns, b1.ip)
    same_p50, routed_p50 = statistics.median(same), statistics.median(routed)
    return {
        "rtt_same_subnet_ms_p50": round(same_p50, 3),
        "rtt_routed_ms_p50": round(routed_p50, 3),
        "routed_overhead_pct": round((routed_p50 / same_p50 - 1) * 100, 1),
        "pings": {"same": len(same), "routed": len(routed)},
    }


RECEIVE = (
    "import socket,sys,time\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7000))\n"
    "print('ready', flush=True); s.recv(64); print(time.time(), flush=True)\n"
)
SEND = (
    "import socket,sys,time\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); end=time.time()+float(sys.argv[2])\n"
    "while time.time() < end:\n"
    "    try: s.sendto(b'x', (sys.argv[1], 7000))\n"
    "    except OSError: pass\n"
    "    time.sleep(0.002)\n"
)
TRIALS = 10


def _first_datagram(api: httpx.Client, lab: Lab, fid: str, address: str, to: BenchVm) -> float:
    """ms from the PUT that points the floating IP at `to` returning to `to` receiving the
    first datagram the outside sends to it every 2 ms."""
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", to.ns, "python3", "-c", RECEIVE], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    sender = subprocess.Popen(
        ["ip", "netns", "exec", lab.external_ns, "python3", "-c", SEND, address, "5"]
    )
    try:
        time.sleep(0.3)  # the outside is already sending
        api.put(f"/v2.0/floatingips/{fid}", json={"floatingip": {"port_id": to.port_id}})
        returned = time.time()
        return (float(receiver.communicate(timeout=10)[0].strip()) - returned) * 1000
    finally:
        receiver.kill()
        sender.kill()
        sender.wait()


def _fip_latency(api: httpx.Client, lab: Lab, router_id: str, vms: list[BenchVm]) -> dict[str, Any]:
    """PUT associate returned -> first datagram from the outside in the VM; the same for a
    move between two VMs on two hosts (module doc)."""
    ext = _post(
        api,
        "/v2.0/networks",
        {
            "network": {
                "name": f"{lab.prefix}-ext",
                "provider:network_type": "flat",
                "provider:physical_network": "external",
                "router:external": True,
            }
        },
    )["network"]
    _post(
        api,
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": ext["id"],
                "ip_version": 4,
                "cidr": "203.0.113.0/24",
                "gateway_ip": "203.0.113.1",
                "allocation_pools": [{"start": "203.0.113.100", "end": "203.0.113.199"}],
            }
        },
    )
    gateway = {"router": {"external_gateway_info": {"network_id": ext["id"]}}}
    api.put(f"/v2.0/routers/{router_id}", json=gateway).raise_for_status()
    group = _post(api, "/v2.0/security-groups", {"security_group": {"name": "udp"}})
    rule = {"security_group_id": group["security_group"]["id"], "direction": "ingress"}
    _post(api, "/v2.0/security-group-rules", {"security_group_rule": {**rule, "protocol": "udp"}})
    body = {"port": {"security_groups": [group["security_group"]["id"]]}}
    for vm in vms:
        api.put(f"/v2.0/ports/{vm.port_id}", json=body).raise_for_status()
    fip = _post(api, "/v2.0/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})
    fid, address = fip["floatingip"]["id"], fip["floatingip"]["floating_ip_address"]
    associate: list[float] = []
    for _ in range(TRIALS):
        associate.append(_first_datagram(api, lab, fid, address, vms[0]))
        api.put(f"/v2.0/floatingips/{fid}", json={"floatingip": {"port_id": None}})
        while api.get(f"/v2.0/floatingips/{fid}").json()["floatingip"]["status"] != "DOWN":
            time.sleep(0.05)
        time.sleep(0.5)
    moves: list[float] = []
    api.put(f"/v2.0/floatingips/{fid}", json={"floatingip": {"port_id": vms[0].port_id}})
    for trial in range(6):
        time.sleep(1.0)  # settled on its current VM
        moves.append(_first_datagram(api, lab, fid, address, vms[(trial + 1) % 2]))
    return {
        **stats.summary(associate, ("p50", "max", "min"), 1),
        "move": stats.summary(moves, ("p50", "max", "min"), 1),
    }
