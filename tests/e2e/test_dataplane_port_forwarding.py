"""Port forwarding of a floating IP on real packets: done by the router's SNAT host.

One floating IP forwards TCP and UDP ports to two VMs on different hosts (a single port, a
1-N range and an N-N range with another offset); from the lab's outside world each forwarded
port reaches the right VM's port, which sees the outside's real address, an unforwarded port
reaches nothing, and a deleted forwarding stops at once. Killing the SNAT host's agent and
Open vSwitch moves the forwarding with the router's SNAT to another host.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.lab.lab import EXTERNAL_ADDRESS, Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.conftest import assert_audit_clean
from tests.e2e.neutron import Api, Scratch
from tests.e2e.test_dataplane_floating_ips import SERVER_ENV as FLOATING_IPS_SERVER_ENV
from tests.e2e.test_dataplane_floating_ips import ask, routed_vms, serve
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

OUTSIDE = EXTERNAL_ADDRESS.split("/")[0]  # 203.0.113.1
TENANT = "10.34.0"
OPEN = [
    {"direction": "ingress", "protocol": proto, "remote_ip_prefix": "0.0.0.0/0"}
    for proto in ("icmp", "tcp", "udp")
]
# A UDP server answering each datagram with its name, the port it got it on, and the peer.
UDP_SERVE = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); print('ready', flush=True)\n"
    "while True:\n"
    "    d, a = s.recvfrom(100); s.sendto(f'{sys.argv[2]}:{sys.argv[1]}:{a[0]}'.encode(), a)\n"
)
UDP_ASK = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)\n"
    "s.sendto(b'hi', (sys.argv[1], int(sys.argv[2])))\n"
    "try:\n"
    "    print(s.recv(100).decode())\n"
    "except OSError as e:\n"
    "    print('failed', e)\n"
)
# Sends a datagram every 2 ms until one is answered; prints CLOCK_MONOTONIC of the answer.
UDP_PROBE = (
    "import socket,sys,time\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.002)\n"
    "print('ready', flush=True); end=time.monotonic()+30\n"
    "while time.monotonic() < end:\n"
    "    s.sendto(b'hi', (sys.argv[1], int(sys.argv[2])))\n"
    "    try:\n"
    "        s.recv(100); print(time.monotonic(), flush=True); break\n"
    "    except OSError:\n"
    "        pass\n"
)
SERVER_ENV = FLOATING_IPS_SERVER_ENV  # SNAT fails over after its short agent_down_time


@pytest.fixture(scope="module")
def world(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    scratch = Scratch(api, lab)
    servers: list[subprocess.Popen[str]] = []
    try:
        ext, router, vms = routed_vms(scratch, TENANT, OPEN)
        for name, vm in vms.items():
            servers.append(serve(vm.ns, 5001, name))
            servers.append(serve(vm.ns, 5002, f"{name}2"))
            servers.append(serve(vm.ns, 7000, name, UDP_SERVE))
        fip = api.create("floatingip", floating_network_id=ext["id"])
        yield {"fip": fip, "vms": vms, "router": router, "ext_ns": lab.external_ns}
    finally:
        for proc in servers:
            proc.kill()
        scratch.cleanup()


def _forward(api: Api, fip: dict[str, Any], vm: Vm, proto: str, ext: str, inner: str) -> str:
    """A forwarding FIP:ext -> vm:inner ("p" or "a:b" each); its id."""
    port = api.get("port", vm.port_id)
    body: dict[str, Any] = {
        "internal_port_id": vm.port_id,
        "internal_ip_address": port["fixed_ips"][0]["ip_address"],
        "protocol": proto,
    }
    body.update(
        {"external_port_range": ext, "internal_port_range": inner}
        if ":" in ext
        else {"external_port": int(ext), "internal_port": int(inner)}
    )
    path = f"/v2.0/floatingips/{fip['id']}/port_forwardings"
    return str(api.call("POST", path, {"port_forwarding": body})["port_forwarding"]["id"])


def _snat_host(lab: Lab, fip: str, dead: str = "") -> str:
    """The host answering ARP for the floating IP on the external segment."""
    found = [
        name
        for name, host in lab.hosts.items()
        if name != dead and any(f"arp_tpa={fip}" in f for f in host.dump_flows("table=0"))
    ]
    assert len(found) == 1, found
    return found[0]


def test_forwarded_ports_reach_the_right_vms(
    server: AlcorServer, api: Api, lab: Lab, world: dict[str, Any]
) -> None:
    fip, vms, ext_ns = world["fip"], world["vms"], world["ext_ns"]
    address = fip["floating_ip_address"]
    _forward(api, fip, vms["a"], "tcp", "2201", "5001")
    _forward(api, fip, vms["b"], "tcp", "2202", "5001")
    _forward(api, fip, vms["b"], "udp", "5353", "7000")
    _forward(api, fip, vms["a"], "tcp", "6000:6003", "5002")  # 1-N
    _forward(api, fip, vms["c"], "tcp", "8001:8002", "5001:5002")  # N-N, another offset
    wait_for(lambda: ask(ext_ns, address, 2201) == f"a:{OUTSIDE}", 30, "tcp 2201 to reach a")
    wait_for(lambda: api.get("floatingip", fip["id"])["status"] == "ACTIVE", 20, "FIP ACTIVE")
    snat = _snat_host(lab, address)
    print(f"forwarding on {snat}; a on h1, b on h2, c on h3")
    assert ask(ext_ns, address, 2202) == f"b:{OUTSIDE}"
    assert ask(ext_ns, address, 5353, UDP_ASK) == f"b:7000:{OUTSIDE}"
    assert [ask(ext_ns, address, p) for p in (6000, 6003)] == [f"a2:{OUTSIDE}"] * 2
    assert ask(ext_ns, address, 8001) == f"c:{OUTSIDE}"
    assert ask(ext_ns, address, 8002) == f"c2:{OUTSIDE}"
    for port in (2203, 6004, 5001, 8000):
        assert ask(ext_ns, address, port).startswith("failed"), port
    assert ask(ext_ns, address, 5354, UDP_ASK).startswith("failed")
    assert_audit_clean(server)  # every host holds the router with its forwardings


def test_a_deleted_forwarding_stops(api: Api, world: dict[str, Any]) -> None:
    fip, vms, ext_ns = world["fip"], world["vms"], world["ext_ns"]
    address = fip["floating_ip_address"]
    pf = _forward(api, fip, vms["b"], "tcp", "2209", "5002")
    wait_for(lambda: ask(ext_ns, address, 2209) == f"b2:{OUTSIDE}", 30, "tcp 2209 to reach b")
    api.call("DELETE", f"/v2.0/floatingips/{fip['id']}/port_forwardings/{pf}")
    wait_for(lambda: ask(ext_ns, address, 2209).startswith("failed"), 30, "2209 to stop")


def test_a_new_forwarding_answers_within_moments(api: Api, world: dict[str, Any]) -> None:
    """From the API's answer to the first datagram answered through a new forwarding (the
    README's figure; printed, not asserted)."""
    fip, vms, ext_ns = world["fip"], world["vms"], world["ext_ns"]
    took = []
    for n in range(5):
        address, port = fip["floating_ip_address"], str(5400 + n)
        probe = subprocess.Popen(
            ["ip", "netns", "exec", ext_ns, "python3", "-c", UDP_PROBE, address, port],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert probe.stdout is not None and probe.stdout.readline().strip() == "ready"
        pf = _forward(api, fip, vms["c"], "udp", port, "7000")
        created = time.monotonic()
        answered = float(probe.stdout.readline())
        probe.wait(5)
        took.append((answered - created) * 1000)
        api.call("DELETE", f"/v2.0/floatingips/{fip['id']}/port_forwardings/{pf}")
    print(f"new forwarding answered after {sorted(took)} ms (p50 {statistics.median(took):.0f})")


def test_the_forwarding_moves_with_the_snat_host(lab: Lab, world: dict[str, Any]) -> None:
    fip, vms, ext_ns = world["fip"], world["vms"], world["ext_ns"]
    address = fip["floating_ip_address"]
    dead = _snat_host(lab, address)
    # a forwarding to a VM on a host that stays
    port, name = next((p, n) for p, n in ((2201, "a"), (2202, "b")) if vms[n].host.name != dead)
    assert ask(ext_ns, address, port) == f"{name}:{OUTSIDE}"
    host = lab.hosts[dead]
    host.stop_agent(hard=True)
    for pid in host.daemon_pids():
        os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: ask(ext_ns, address, port) == f"{name}:{OUTSIDE}",
        40,
        "the forwarding through the new SNAT host",
    )
    assert _snat_host(lab, address, dead) != dead
