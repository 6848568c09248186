"""The agent and the lab on real packets: DHCP, overlay L2, isolation, port security,
deletion, status timeline, agent kill -9 and NATS restart without losing traffic."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.vm import Vm
from alcor.southbound import goalstate_pb2 as pb
from alcor.southbound.nats_server import NatsServer
from tests.e2e.controller import ControllerStandIn

pytestmark = pytest.mark.ovs

NET_A, NET_B = "net-a", "net-b"
CIDR = "10.1.0.0/24"  # used by both networks: they must stay isolated


def wait_for(check, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def mac(n: int) -> str:
    return f"fa:16:3e:00:01:{n:02x}"


def cookie_flows(lab: Lab, host: str, kind: int, owner: str) -> list[str]:
    ck = flows.cookie(kind, owner)
    return [f for f in lab.hosts[host].dump_flows() if f"cookie={ck:#x}," in f]


def boot(lab: Lab, ctl: ControllerStandIn, name: str, host: str, net: str, n: int) -> Vm:
    ctl.add_port(f"port-{name}", host, net, f"10.1.0.{n}", mac(n))
    vm = lab.add_vm(host, f"port-{name}", mac(n), name=name)
    assert vm.lease().get("ip") == f"10.1.0.{n}", vm.lease()
    return vm


@pytest.fixture(scope="module")
def net(lab: Lab, controller: ControllerStandIn) -> dict[str, Vm]:
    """Network A: vm1 (h1), vm2 (h2); network B, same CIDR: vm3 (h3), vm4 (h1)."""
    controller.add_network(
        NET_A,
        100,
        CIDR,
        "10.1.0.1",
        dns=["10.1.0.53"],
        routes=[("10.9.0.0/16", "10.1.0.254")],
        domain="alcor.test",
    )
    controller.add_network(NET_B, 200, CIDR, "10.1.0.1")
    return {
        "vm1": boot(lab, controller, "vm1", "h1", NET_A, 11),
        "vm2": boot(lab, controller, "vm2", "h2", NET_A, 12),
        "vm3": boot(lab, controller, "vm3", "h3", NET_B, 12),
        "vm4": boot(lab, controller, "vm4", "h1", NET_B, 14),
    }


def test_lease_has_address_gateway_mtu_routes_dns(net: dict[str, Vm]) -> None:
    lease = net["vm1"].lease()
    assert lease["ip"] == "10.1.0.11" and lease["subnet"] == "255.255.255.0"
    assert lease["router"] == "10.1.0.1" and lease["mtu"] == "1450"
    assert lease["dns"] == "10.1.0.53" and lease["domain"] == "alcor.test"
    assert lease["staticroutes"] == "10.9.0.0/16 10.1.0.254 0.0.0.0/0 10.1.0.1"
    routes = net["vm1"].x("ip", "route")
    assert "10.9.0.0/16 via 10.1.0.254" in routes and "default via 10.1.0.1" in routes
    assert "mtu 1450" in net["vm1"].x("ip", "link", "show", "eth0")


def test_cross_host_ping_and_arp_answered_locally(lab: Lab, net: dict[str, Vm]) -> None:
    assert net["vm1"].ping("10.1.0.12")
    assert net["vm2"].ping("10.1.0.11")
    assert net["vm4"].ping("10.1.0.12")  # network B: vm4 (h1) -> vm3 (h3)
    assert net["vm1"].ping("10.1.0.12", count=2, interval=0.2, wait=1.0)
    ok = net["vm1"].x("ping", "-c", "2", "-M", "do", "-s", "1422", "10.1.0.12", check=False)
    assert " 0% packet loss" in ok  # full 1450 MTU across VXLAN
    # ARP for vm2 was answered by h1's responder (table 31), not by vm2 over the tunnel.
    arp = [
        f
        for f in lab.hosts["h1"].dump_flows(f"table={flows.ARP_RESPONDER}")
        if "arp_tpa=10.1.0.12" in f and "tun_id=0x64" in f
    ]
    assert arp and int(re.search(r"n_packets=(\d+)", arp[0]).group(1)) > 0  # type: ignore[union-attr]


def test_same_cidr_networks_are_isolated(net: dict[str, Vm]) -> None:
    assert not net["vm3"].ping("10.1.0.11", count=2)  # B -> A's address
    assert not net["vm1"].ping("10.1.0.14", count=2)  # A -> B's address
    assert net["vm2"].x("ip", "neigh", "show", "10.1.0.14").strip() in (
        "",
        "10.1.0.14 dev eth0 FAILED",
    )


def test_forged_source_ip_or_mac_is_dropped(net: dict[str, Vm]) -> None:
    vm1 = net["vm1"]
    vm1.x("ip", "addr", "add", "10.1.0.99/24", "dev", "eth0")
    try:
        out = vm1.x("ping", "-c", "2", "-W", "1", "-I", "10.1.0.99", "10.1.0.12", check=False)
        assert " 0 received" in out
    finally:
        vm1.x("ip", "addr", "del", "10.1.0.99/24", "dev", "eth0")
    vm1.x("ip", "link", "set", "eth0", "address", "fa:16:3e:00:01:99")
    try:
        assert not vm1.ping("10.1.0.12", count=2)
    finally:
        vm1.x("ip", "link", "set", "eth0", "address", mac(11))
    assert vm1.ping("10.1.0.12")


def test_pending_before_plug_success_after_programming(
    lab: Lab, controller: ControllerStandIn, net: dict[str, Vm]
) -> None:
    controller.add_port("port-vm5", "h3", NET_A, "10.1.0.15", mac(15))
    pending = controller.wait_state("port-vm5", pb.PENDING)
    assert pending.received_at > 0 and pending.programmed_at == 0
    assert not cookie_flows(lab, "h3", flows.KIND_PORT, "port-vm5")
    vm5 = lab.add_vm("h3", "port-vm5", mac(15), name="vm5")
    done = controller.wait_state("port-vm5", pb.SUCCESS)
    assert done.programmed_at >= done.received_at > 0
    assert cookie_flows(lab, "h3", flows.KIND_PORT, "port-vm5")
    assert vm5.ping("10.1.0.11")


def test_deleting_a_port_removes_its_flows_here_and_its_neighbour_entries_elsewhere(
    lab: Lab, controller: ControllerStandIn, net: dict[str, Vm]
) -> None:
    vm6 = boot(lab, controller, "vm6", "h3", NET_A, 16)
    assert vm6.ping("10.1.0.11")
    assert cookie_flows(lab, "h1", flows.KIND_NEIGHBOR, "port-vm6")
    controller.delete_port("port-vm6")
    wait_for(lambda: not cookie_flows(lab, "h3", flows.KIND_PORT, "port-vm6"), what="port flows")
    for host in ("h1", "h2", "h3"):
        wait_for(
            lambda h=host: not cookie_flows(lab, h, flows.KIND_NEIGHBOR, "port-vm6"),
            what=f"neighbour flows on {host}",
        )
    controller.wait_state("port-vm6", pb.REMOVED)
    assert not vm6.ping("10.1.0.11", count=2)
    lab.remove_vm("vm6")


def _durations(lab: Lab, host: str) -> dict[str, float]:
    out = {}
    for line in lab.hosts[host].dump_flows():
        key = re.sub(r"(duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*, ?", "", line)
        out[key] = float(re.search(r"duration=([\d.]+)s", line).group(1))  # type: ignore[union-attr]
    return out


def test_agent_kill9_and_restart_loses_no_packet_and_flushes_nothing(
    lab: Lab, controller: ControllerStandIn, net: dict[str, Vm], nats_server: NatsServer
) -> None:
    h1 = lab.hosts["h1"]
    before = _durations(lab, "h1")
    ping = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            net["vm1"].ns,
            "ping",
            "-c",
            "150",
            "-i",
            "0.02",
            "-W",
            "1",
            "10.1.0.12",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    registrations = len(controller.registrations)
    h1.stop_agent(hard=True)
    time.sleep(0.5)
    h1.start_agent(nats_server.url)
    wait_for(lambda: len(controller.registrations) > registrations, 30, "re-registration")
    out, _ = ping.communicate(timeout=30)
    assert " 0% packet loss" in out, out
    time.sleep(1.0)  # the restarted agent's replace-flows has run by now
    after = _durations(lab, "h1")
    assert set(after) == set(before)
    elapsed = min(after.values())
    assert elapsed > 2.0, "flows were re-created"
    assert all(after[k] >= before[k] for k in before)
    # DHCP still served by the new agent process (new OpenFlow connection).
    assert net["vm4"].dhcp().get("ip") == "10.1.0.14"


def test_nats_restart_traffic_continues_and_agents_resync(
    lab: Lab, controller: ControllerStandIn, net: dict[str, Vm], nats_server: NatsServer
) -> None:
    nats_server.kill()
    try:
        assert net["vm1"].ping("10.1.0.12")
        # Intent that changes while NATS is down reaches the agents only by resync.
        controller.add_port("port-late", "h2", NET_A, "10.1.0.77", mac(77), publish=False)
    finally:
        nats_server.start()
    wait_for(lambda: cookie_flows(lab, "h1", flows.KIND_NEIGHBOR, "port-late"), 30, "resync")
    assert net["vm1"].ping("10.1.0.12")
