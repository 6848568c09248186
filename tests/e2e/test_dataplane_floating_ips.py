"""Floating IPs and router SNAT on real packets: NATed with conntrack on the hosts.

The lab's outside world (the namespace `<prefix>-ext`, 203.0.113.1 on the external segment
every host reaches through its br-ex) is the gateway of an admin's flat external network. A
router has its gateway there and an interface on a tenant subnet with VMs on two hosts, in a
group that admits ICMP and TCP from anywhere. The outside reaches a VM through its floating
IP and the VM sees the outside's real address; the VM reaches the outside and the outside
sees the floating IP; the floating IP turns ACTIVE only once its host programmed it; moving
it to a VM on another host moves the traffic; disassociating it cuts it off. VMs without a
floating IP reach the outside through the router's SNAT host, seen as the router's gateway
address, which also answers ping; killing that host's agent and Open vSwitch moves SNAT to
another host (the server runs with a short agent_down_time for it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.lab.lab import EXTERNAL_ADDRESS, Lab
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, Scratch
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

OUTSIDE = EXTERNAL_ADDRESS.split("/")[0]  # 203.0.113.1
TENANT = "10.33.0"
OPEN = [
    {"direction": "ingress", "protocol": proto, "remote_ip_prefix": "0.0.0.0/0"}
    for proto in ("icmp", "tcp")
]
# A one-shot TCP server that answers each connection with its name and the peer's address.
SERVE = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16); print('ready', flush=True)\n"
    "while True:\n"
    "    c, a = s.accept(); c.sendall(f'{sys.argv[2]}:{a[0]}'.encode()); c.close()\n"
)
ASK = (
    "import socket,sys\n"
    "try:\n"
    "    c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0)\n"
    "    print(c.recv(100).decode())\n"
    "except OSError as e:\n"
    "    print('failed', e)\n"
)


DOWN_TIME = 3.0  # agent_down_time of this module's server: SNAT fails over after it
SERVER_ENV = {"ALCOR_AGENT_DOWN_TIME": str(DOWN_TIME)}


def serve(ns: str, port: int, name: str, script: str = SERVE) -> subprocess.Popen[str]:
    """A server `script` (TCP by default) on `port` in `ns`, answering with `name`."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "python3", "-c", script, str(port), name],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def ask(ns: str, ip: str, port: int, script: str = ASK) -> str:
    """What a client `script` (TCP by default) in `ns` hears from ip:port."""
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "python3", "-c", script, ip, str(port)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return out.stdout.strip()


def _ping(ns: str, ip: str) -> bool:
    cmd = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", ip]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def routed_vms(
    scratch: Scratch, tenant: str, rules: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Vm]]:
    """The admin's external network, a router with its gateway there and an interface on
    `tenant`.0/24, and VMs a, b, c (.11-.13) on h1, h2, h3 in a group with `rules`, ACTIVE:
    (external network, router, VMs)."""
    api = scratch.api
    ext = scratch.external_network("ext", OUTSIDE)
    inside = scratch.network("in", f"{tenant}.0/24", f"{tenant}.1")
    sub = api.call("GET", f"/v2.0/subnets?network_id={inside['id']}")["subnets"][0]
    router = scratch.router("r", [sub["id"]], external_gateway_info={"network_id": ext["id"]})
    group = scratch.group("open", rules)
    vms: dict[str, Vm] = {}
    for name, host, n in (("a", "h1", 11), ("b", "h2", 12), ("c", "h3", 13)):
        mac = f"fa:16:3e:{int(tenant.split('.')[1]):02x}:00:{n:02x}"
        port = scratch.port(inside["id"], host, f"{tenant}.{n}", mac, security_groups=[group["id"]])
        vms[name] = scratch.vm(name, host, port)
        api.wait_status(port["id"], "ACTIVE")
    return ext, router, vms


@pytest.fixture(scope="module")
def world(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    scratch = Scratch(api, lab)
    servers: list[subprocess.Popen[str]] = []
    try:
        ext, router, vms = routed_vms(scratch, TENANT, OPEN)
        servers.extend(serve(vm.ns, 5001, name) for name, vm in vms.items())
        servers.append(serve(lab.external_ns, 5002, "outside"))
        fip = api.create("floatingip", floating_network_id=ext["id"], port_id=vms["a"].port_id)
        gateway = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        yield {
            "fip": fip,
            "vms": vms,
            "router": router,
            "gateway": gateway,
            "ext_ns": lab.external_ns,
        }
    finally:
        for proc in servers:
            proc.kill()
        scratch.cleanup()


def _fip_status(api: Api, fip_id: str, status: str) -> None:
    wait_for(lambda: api.get("floatingip", fip_id)["status"] == status, 20, f"FIP {status}")


def test_a_floating_ip_is_active_once_its_host_programmed_it(
    api: Api, world: dict[str, Any]
) -> None:
    _fip_status(api, world["fip"]["id"], "ACTIVE")


def test_the_outside_reaches_the_vm_which_sees_the_real_address(world: dict[str, Any]) -> None:
    fip = world["fip"]["floating_ip_address"]
    wait_for(lambda: _ping(world["ext_ns"], fip), 20, "the outside to ping the FIP")
    assert ask(world["ext_ns"], fip, 5001) == f"a:{OUTSIDE}"


def test_the_vm_reaches_the_outside_which_sees_the_floating_ip(world: dict[str, Any]) -> None:
    fip = world["fip"]["floating_ip_address"]
    a = world["vms"]["a"]
    wait_for(lambda: a.ping(OUTSIDE, count=1), 20, "a to ping the outside")
    assert ask(a.ns, OUTSIDE, 5002) == f"outside:{fip}"


def test_moving_the_floating_ip_moves_the_traffic(api: Api, world: dict[str, Any]) -> None:
    fip, vms, ext_ns = world["fip"], world["vms"], world["ext_ns"]
    address = fip["floating_ip_address"]
    assert ask(ext_ns, address, 5001) == f"a:{OUTSIDE}"
    api.update("floatingip", fip["id"], port_id=vms["b"].port_id)
    wait_for(lambda: ask(ext_ns, address, 5001) == f"b:{OUTSIDE}", 20, "traffic to reach b")
    _fip_status(api, fip["id"], "ACTIVE")
    assert ask(vms["b"].ns, OUTSIDE, 5002) == f"outside:{address}"
    # a has no floating IP any more: it goes out through the router's SNAT
    assert ask(vms["a"].ns, OUTSIDE, 5002) == f"outside:{world['gateway']}"


def test_vms_without_floating_ip_go_out_as_the_router_gateway_which_answers_ping(
    api: Api, world: dict[str, Any]
) -> None:
    query = f"/v2.0/ports?device_id={world['router']['id']}&device_owner=network:router_gateway"
    [gateway_port] = api.call("GET", query)["ports"]
    api.wait_status(gateway_port["id"], "ACTIVE")  # published with its SNAT host placed
    c = world["vms"]["c"]
    wait_for(lambda: c.ping(OUTSIDE, count=1), 20, "c to ping the outside through SNAT")
    assert ask(c.ns, OUTSIDE, 5002) == f"outside:{world['gateway']}"
    assert _ping(world["ext_ns"], world["gateway"])
    assert ask(world["ext_ns"], world["gateway"], 5001).startswith("failed")  # no way in


def test_disassociating_cuts_the_floating_ip_off(api: Api, world: dict[str, Any]) -> None:
    fip, ext_ns = world["fip"], world["ext_ns"]
    api.update("floatingip", fip["id"], port_id=None)
    _fip_status(api, fip["id"], "DOWN")
    wait_for(
        lambda: ask(ext_ns, fip["floating_ip_address"], 5001).startswith("failed"),
        20,
        "the FIP to stop answering",
    )


def _snat_host(lab: Lab, gateway: str, dead: str = "") -> str:
    """The host answering ping for the router's gateway address (its SNAT host)."""
    found = [
        name
        for name, host in lab.hosts.items()
        if name != dead
        and any(f"nw_dst={gateway},icmp_type=8" in f for f in host.dump_flows("table=0"))
    ]
    assert len(found) == 1, found
    return found[0]


def test_killing_the_snat_host_moves_snat_to_another_host(lab: Lab, world: dict[str, Any]) -> None:
    gateway, vms = world["gateway"], world["vms"]
    dead = _snat_host(lab, gateway)
    # a VM without a floating IP on a host that stays (b holds the floating IP)
    probe = next(vms[n] for n in ("a", "c") if vms[n].host.name != dead)
    assert ask(probe.ns, OUTSIDE, 5002) == f"outside:{gateway}"
    host = lab.hosts[dead]
    host.stop_agent(hard=True)
    for pid in host.daemon_pids():
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(
        lambda: ask(probe.ns, OUTSIDE, 5002) == f"outside:{gateway}",
        30,
        "a new connection through the new SNAT host",
    )
    took = time.monotonic() - killed
    print(f"SNAT back {took:.1f} s after the kill (agent_down_time {DOWN_TIME} s)")
    assert _snat_host(lab, gateway, dead) != dead
