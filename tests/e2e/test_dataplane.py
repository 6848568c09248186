"""The production path on real packets: Neutron API -> real `alcor server` -> NATS -> agents
-> Open vSwitch, checked by what the VMs see: DHCP lease, overlay L2 across hosts, isolation
of same-CIDR networks, port security on and off, deletion, port status and its provisioning
timeline, agent kill -9, server restart and nats-server crash without losing traffic."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.conftest import preloaded
from tests.e2e.neutron import Api, Scratch
from tests.e2e.traffic import forge_and_ping, in_echos, ping_bg, ping_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

CIDR = "10.1.0.0/24"  # used by both networks: they must stay isolated
STAMPS = ("committed_at", "compiled_at", "published_at", "received_at", "programmed_at")


def mac(n: int) -> str:
    return f"fa:16:3e:00:01:{n:02x}"


def ip(n: int) -> str:
    return f"10.1.0.{n}"


def cookie_flows(lab: Lab, host: str, kind: int, owner: str) -> list[str]:
    ck = flows.cookie(kind, owner)
    return [f for f in lab.hosts[host].dump_flows() if f"cookie={ck:#x}," in f]


def kill9_and_restart(api: Api, lab: Lab, server: AlcorServer, host: str) -> None:
    """kill -9 the agent of `host`, start it again, wait until it registered anew."""
    started = api.agents()[host]["started_at"]
    lab.hosts[host].stop_agent(hard=True)
    time.sleep(1.1)  # started_at has a resolution of one second
    lab.hosts[host].start_agent(server.nats_url)
    wait_for(lambda: api.agents()[host]["started_at"] != started, 30, f"{host} to re-register")


def boot(scratch: Scratch, name: str, host: str, net: dict[str, Any], n: int, **attrs: Any) -> Vm:
    port = scratch.port(net["id"], host, ip(n), mac(n), **attrs)
    vm = scratch.vm(name, host, port)
    assert vm.lease().get("ip") == ip(n), vm.lease()
    return vm


@pytest.fixture(scope="module")
def nets(api: Api, lab: Lab) -> Iterator[dict[str, dict[str, Any]]]:
    """Networks A and B, both 10.1.0.0/24 (A with DNS, domain and a host route)."""
    scratch = Scratch(api, lab)
    try:
        out = {
            "A": scratch.network(
                "A",
                CIDR,
                "10.1.0.1",
                {"dns_domain": "alcor.test"},
                dns_nameservers=["10.1.0.53"],
                host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.1.0.254"}],
            ),
            "B": scratch.network("B", CIDR, "10.1.0.1"),
        }
        assert out["A"]["mtu"] == 1450
        yield out
    finally:
        scratch.cleanup()


@pytest.fixture(scope="module")
def net(api: Api, lab: Lab, nets: dict[str, dict[str, Any]]) -> Iterator[dict[str, Vm]]:
    """Network A: vm1 (h1), vm2 (h2); network B, same CIDR: vm3 (h3), vm4 (h1)."""
    scratch = Scratch(api, lab)
    try:
        vms = {
            "vm1": boot(scratch, "vm1", "h1", nets["A"], 11),
            "vm2": boot(scratch, "vm2", "h2", nets["A"], 12),
            "vm3": boot(scratch, "vm3", "h3", nets["B"], 12),
            "vm4": boot(scratch, "vm4", "h1", nets["B"], 14),
        }
        for vm in vms.values():
            api.wait_status(vm.port_id, "ACTIVE")
        yield vms
    finally:
        scratch.cleanup()


def test_lease_has_address_gateway_mtu_routes_dns(net: dict[str, Vm]) -> None:
    lease = net["vm1"].lease()
    assert lease["ip"] == "10.1.0.11" and lease["subnet"] == "255.255.255.0"
    assert lease["router"] == "10.1.0.1" and lease["mtu"] == "1450"
    assert lease["dns"] == "10.1.0.53" and lease["domain"] == "alcor.test"
    assert lease["staticroutes"] == "10.9.0.0/16 10.1.0.254 0.0.0.0/0 10.1.0.1"
    routes = net["vm1"].x("ip", "route")
    assert "10.9.0.0/16 via 10.1.0.254" in routes and "default via 10.1.0.1" in routes
    assert "mtu 1450" in net["vm1"].x("ip", "link", "show", "eth0")
    assert net["vm2"].lease()["ip"] == "10.1.0.12"
    assert net["vm3"].lease()["ip"] == "10.1.0.12"  # same address, other network
    assert "domain" not in net["vm3"].lease()


def test_cross_host_ping_and_arp_answered_locally(
    lab: Lab, nets: dict[str, dict[str, Any]], net: dict[str, Vm]
) -> None:
    assert net["vm1"].ping("10.1.0.12")
    assert net["vm2"].ping("10.1.0.11")
    assert net["vm4"].ping("10.1.0.12")  # network B: vm4 (h1) -> vm3 (h3)
    ok = net["vm1"].x("ping", "-c", "2", "-M", "do", "-s", "1422", "10.1.0.12", check=False)
    assert " 0% packet loss" in ok, ok  # a full 1450-byte DF packet across VXLAN
    # vm1's ARP for vm2 is answered by h1's responder, not by vm2 over the tunnel. (On an
    # on-demand network the very first ARP went on from the agent's answer, before the
    # responder's flow was in: the next one is the flow's.)
    net["vm1"].x("ip", "neigh", "flush", "dev", "eth0")
    assert net["vm1"].ping("10.1.0.12", count=1)
    vni = nets["A"]["provider:segmentation_id"]
    arp = [
        f
        for f in lab.hosts["h1"].dump_flows(f"table={flows.ARP_RESPONDER}")
        if "arp_tpa=10.1.0.12" in f and f"tun_id={vni:#x}" in f
    ]
    assert arp and int(re.search(r"n_packets=(\d+)", arp[0]).group(1)) > 0  # type: ignore[union-attr]


def test_same_cidr_networks_are_isolated(net: dict[str, Vm]) -> None:
    echos = in_echos(net["vm1"])
    assert not net["vm3"].ping("10.1.0.11", count=2)  # B -> A's address
    assert not net["vm1"].ping("10.1.0.14", count=2)  # A -> B's address
    assert in_echos(net["vm1"]) == echos
    assert net["vm2"].x("ip", "neigh", "show", "10.1.0.14").strip() in (
        "",
        "10.1.0.14 dev eth0 FAILED",
    )


def test_forged_source_dropped_with_port_security_and_passes_without(
    api: Api, nets: dict[str, dict[str, Any]], net: dict[str, Vm], scratch: Scratch
) -> None:
    vm1, vm2 = net["vm1"], net["vm2"]
    assert forge_and_ping(vm1, vm2, "10.1.0.12", forged_ip="10.1.0.99") == 0
    assert forge_and_ping(vm1, vm2, "10.1.0.12", forged_mac="fa:16:3e:00:01:99") == 0
    assert vm1.ping("10.1.0.12")  # the genuine source still passes
    # The same forgeries from a port with port_security_enabled=false reach a target that
    # filters nothing either (vm1's default group admits only its members' addresses).
    vm7 = boot(scratch, "vm7", "h2", nets["A"], 17, port_security_enabled=False)
    vm9 = boot(scratch, "vm9", "h1", nets["A"], 19, port_security_enabled=False)
    assert api.get("port", vm7.port_id)["port_security_enabled"] is False
    for vm in (vm7, vm9):
        api.wait_status(vm.port_id, "ACTIVE")
    assert forge_and_ping(vm7, vm9, "10.1.0.19", forged_ip="10.1.0.98") == 3
    assert forge_and_ping(vm7, vm9, "10.1.0.19", forged_mac="fa:16:3e:00:01:98") == 3
    assert forge_and_ping(vm7, vm1, "10.1.0.11", forged_ip="10.1.0.98") == 0  # vm1's group
    # A forged IP without port security even gets its replies (vm9's ARP is flooded).
    vm7.x("ip", "addr", "add", "10.1.0.98/24", "dev", "eth0")
    try:
        out = vm7.x("ping", "-c", "3", "-i", "0.1", "-W", "1", "-I", "10.1.0.98", "10.1.0.19")
        assert " 0% packet loss" in out, out
    finally:
        vm7.x("ip", "addr", "del", "10.1.0.98/24", "dev", "eth0", check=False)


def test_port_down_until_plugged_active_after_programming_with_timeline(
    api: Api, lab: Lab, nets: dict[str, dict[str, Any]], net: dict[str, Vm], scratch: Scratch
) -> None:
    port = scratch.port(nets["A"]["id"], "h3", ip(15), mac(15))
    assert port["status"] == "DOWN" and port["binding:vif_type"] == "ovs"
    wait_for(
        lambda: api.provisioning(port["id"]).get("received_at"),
        15,
        "the agent of h3 to receive the port and report it",
    )
    pending = api.provisioning(port["id"])
    assert pending["state"] == "PENDING" and pending["programmed_at"] is None, pending
    assert pending["host_id"] == "h3"
    time.sleep(0.5)  # nothing may turn it ACTIVE while no VIF is plugged
    assert api.port_status(port["id"]) == "DOWN"
    assert not cookie_flows(lab, "h3", flows.KIND_PORT, port["id"])
    vm5 = scratch.vm("vm5", "h3", port)
    assert vm5.lease().get("ip") == ip(15)
    api.wait_status(port["id"], "ACTIVE")
    tl = api.provisioning(port["id"])
    assert tl["state"] == "SUCCESS", tl
    stamps = [tl[s] for s in STAMPS]
    assert all(stamps) and stamps == sorted(stamps), tl
    assert cookie_flows(lab, "h3", flows.KIND_PORT, port["id"])
    assert vm5.ping("10.1.0.11")


def test_unplugging_the_vif_turns_the_port_down(
    api: Api, lab: Lab, nets: dict[str, dict[str, Any]], net: dict[str, Vm], scratch: Scratch
) -> None:
    # The agent reports REMOVED with the revision it holds, older than the port's (status
    # writes bump it without telling hosts); it counts, being from the binding's start on.
    vm8 = boot(scratch, "vm8", "h3", nets["A"], 18)
    api.wait_status(vm8.port_id, "ACTIVE")
    vm8.unplug()
    wait_for(
        lambda: not cookie_flows(lab, "h3", flows.KIND_PORT, vm8.port_id), 10, "port flows to go"
    )
    assert not net["vm1"].ping("10.1.0.18", count=2)
    api.wait_status(vm8.port_id, "DOWN", timeout=10)


def test_deleting_a_port_removes_its_flows_here_and_its_neighbour_entries_elsewhere(
    api: Api, lab: Lab, nets: dict[str, dict[str, Any]], net: dict[str, Vm], scratch: Scratch
) -> None:
    vm6 = boot(scratch, "vm6", "h3", nets["A"], 16)
    api.wait_status(vm6.port_id, "ACTIVE")
    assert vm6.ping("10.1.0.11")
    assert net["vm2"].ping("10.1.0.16")  # h1 and h2 hold vm6's entry (also when on demand)
    assert cookie_flows(lab, "h3", flows.KIND_PORT, vm6.port_id)
    for host in ("h1", "h2"):
        assert cookie_flows(lab, host, flows.KIND_NEIGHBOR, vm6.port_id), host
    api.delete("port", vm6.port_id)
    wait_for(
        lambda: not cookie_flows(lab, "h3", flows.KIND_PORT, vm6.port_id), 15, "port flows to go"
    )
    for host in ("h1", "h2", "h3"):
        wait_for(
            lambda h=host: not cookie_flows(lab, h, flows.KIND_NEIGHBOR, vm6.port_id),  # type: ignore[misc]
            15,
            f"neighbour flows on {host} to go",
        )
    assert not vm6.ping("10.1.0.11", count=2)


def _durations(lab: Lab, host: str) -> dict[str, float]:
    out = {}
    for line in lab.hosts[host].dump_flows():
        key = re.sub(r"(duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*, ?", "", line)
        out[key] = float(re.search(r"duration=([\d.]+)s", line).group(1))  # type: ignore[union-attr]
    return out


def test_agent_kill9_and_restart_loses_no_packet_and_flushes_nothing(
    api: Api, lab: Lab, server: AlcorServer, net: dict[str, Vm]
) -> None:
    before = _durations(lab, "h1")
    ping = ping_bg(net["vm1"], "10.1.0.12", 150)
    try:
        time.sleep(0.5)
        kill9_and_restart(api, lab, server, "h1")
    finally:
        out = ping_result(ping)
    assert " 0% packet loss" in out, out
    # DHCP answered by the new agent process (a new OpenFlow connection), ports stay ACTIVE.
    assert net["vm4"].dhcp().get("ip") == "10.1.0.14"
    for vm in (net["vm1"], net["vm4"]):
        api.wait_status(vm.port_id, "ACTIVE")
    after = _durations(lab, "h1")  # the restarted agent's resync (replace-flows) has run
    assert set(after) == set(before)
    assert min(after.values()) > 2.0, "flows were re-created"
    assert all(after[k] >= before[k] for k in before)


def _traffic_survives(vm: Vm, target: str, disrupt: Any) -> None:
    ping = ping_bg(vm, target, 250)
    try:
        time.sleep(0.5)
        disrupt()
    finally:
        out = ping_result(ping)
    assert " 0% packet loss" in out, out


def _late_port(api: Api, lab: Lab, nets: dict[str, Any], scratch: Scratch, n: int) -> None:
    """A port created after the disruption is programmed everywhere and turns ACTIVE."""
    port = scratch.port(nets["A"]["id"], "h2", ip(n), mac(n))
    if preloaded():
        wait_for(
            lambda: cookie_flows(lab, "h1", flows.KIND_NEIGHBOR, port["id"]),
            30,
            "h1 to learn the new port",
        )
    vm = scratch.vm(f"vm{n}", "h2", port)
    assert vm.lease().get("ip") == ip(n)
    api.wait_status(port["id"], "ACTIVE")
    assert vm.ping("10.1.0.11")
    assert cookie_flows(lab, "h1", flows.KIND_NEIGHBOR, port["id"])


def test_server_restart_traffic_continues_and_agents_resync(
    api: Api,
    lab: Lab,
    server: AlcorServer,
    nets: dict[str, Any],
    net: dict[str, Vm],
    scratch: Scratch,
) -> None:
    def restart() -> None:
        server.stop()
        assert net["vm2"].ping("10.1.0.11", count=2)  # no server, no NATS: still forwarding
        server.start()  # same state dir, database, HTTP and NATS ports

    _traffic_survives(net["vm1"], "10.1.0.12", restart)
    wait_for(lambda: all(a["alive"] for a in api.agents().values()), 30, "agents alive")
    _late_port(api, lab, nets, scratch, 21)
    for vm in net.values():
        api.wait_status(vm.port_id, "ACTIVE")


def _nats_pid(server: AlcorServer) -> int | None:
    """The embedded nats-server: the server process's child named nats-server."""
    assert server.proc is not None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == "nats-server" and int(fields[1]) == server.proc.pid and fields[0] != "Z":
            return int(entry)
    return None


def test_nats_crash_supervisor_restarts_it_traffic_continues_agents_resync(
    api: Api,
    lab: Lab,
    server: AlcorServer,
    nets: dict[str, Any],
    net: dict[str, Vm],
    scratch: Scratch,
) -> None:
    old = _nats_pid(server)
    assert old is not None, "no nats-server child of the server process"
    created: list[dict[str, Any]] = []

    def crash() -> None:
        os.kill(old, signal.SIGKILL)
        # Intent committed while NATS is down reaches the hosts only by reconnect + resync.
        created.append(scratch.port(nets["A"]["id"], "h3", ip(31), mac(31)))
        new = wait_for(lambda: (p := _nats_pid(server)) and p != old and p, 15, "NATS restart")
        assert new != old

    _traffic_survives(net["vm1"], "10.1.0.12", crash)
    if preloaded():
        for host in ("h1", "h2"):
            wait_for(
                lambda h=host: cookie_flows(lab, h, flows.KIND_NEIGHBOR, created[0]["id"]),  # type: ignore[misc]
                30,
                f"{host} to learn the port created while NATS was down",
            )
    vm = scratch.vm("vm31", "h3", created[0])
    assert vm.lease().get("ip") == ip(31)
    assert vm.ping("10.1.0.11") and vm.ping("10.1.0.12")
    api.wait_status(created[0]["id"], "ACTIVE")
    _late_port(api, lab, nets, scratch, 32)
    for vm in net.values():
        api.wait_status(vm.port_id, "ACTIVE")
