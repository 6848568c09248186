"""IPv6 on real packets: SLAAC, DHCPv6, neighbour discovery, routing and filtering.

Three dual-stack networks on the 3-host lab, answered only by the agents (no radvd, no
dnsmasq): L (`slaac`, on a router), R (`dhcpv6-stateful`, on the same router, with a DNS
server) and S (`dhcpv6-stateless`, no router, with a DNS server). VMs turn IPv6 on as a cloud
image does and configure themselves from the agents' router advertisements and DHCPv6 replies
(ISC dhclient); neighbours are answered in flows, so no solicitation crosses a tunnel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, Scratch
from tests.e2e.test_dataplane import kill9_and_restart
from tests.e2e.traffic import (
    CONNECTED,
    connect,
    forged,
    in_echos6,
    listening,
    ping_bg,
    ping_result,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

V6 = {"L": "fd41:1::", "R": "fd41:2::", "S": "fd41:3::"}
MODES = {"L": "slaac", "R": "dhcpv6-stateful", "S": "dhcpv6-stateless"}
WEB_PORT = 5601


def _v6(port: dict[str, Any]) -> str:
    return next(f["ip_address"] for f in port["fixed_ips"] if ":" in f["ip_address"])


@pytest.fixture(scope="module")
def six(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    """The three networks, the router on L and R, and VMs a (h1, L), b (h2, L), c (h2, R),
    d (h3, S) and w (h3, L, in a group that admits only TCP port 5601 over IPv6)."""
    scratch = Scratch(api, lab)
    router = api.create("router", name=f"{lab.prefix}-r6")
    attached: list[str] = []
    try:
        nets: dict[str, dict[str, Any]] = {}
        subnets: dict[str, str] = {}
        for n, side in enumerate("LRS", start=1):
            nets[side] = scratch.network(side, f"10.4{n}.0.0/24", f"10.4{n}.0.1")
            subnet = api.create(
                "subnet",
                network_id=nets[side]["id"],
                name=f"{lab.prefix}-{side}6",
                ip_version=6,
                cidr=f"{V6[side]}/64",
                ipv6_ra_mode=MODES[side],
                ipv6_address_mode=MODES[side],
                dns_nameservers=[f"{V6[side]}53"] if side != "L" else [],
            )
            subnets[side] = subnet["id"]
            if side != "S":
                api.call(
                    "PUT",
                    f"/v2.0/routers/{router['id']}/add_router_interface",
                    {"subnet_id": subnet["id"]},
                )
                attached.append(subnet["id"])
        web = scratch.group(
            "web6",
            [
                {
                    "direction": "ingress",
                    "ethertype": "IPv6",
                    "protocol": "tcp",
                    "port_range_min": WEB_PORT,
                    "port_range_max": WEB_PORT,
                }
            ],
        )
        vms: dict[str, Vm] = {}
        ports: dict[str, dict[str, Any]] = {}
        for name, host, side, n, attrs in (
            ("a", "h1", "L", 11, {}),
            ("b", "h2", "L", 12, {}),
            ("c", "h2", "R", 13, {}),
            ("d", "h3", "S", 14, {}),
            ("w", "h3", "L", 15, {"security_groups": [web["id"]]}),
        ):
            fixed = [{"ip_address": f"10.4{'LRS'.index(side) + 1}.0.{n}"}]
            if side == "R":  # stateful: an address only when asked for (SLAAC ones come anyway)
                fixed.append({"subnet_id": subnets[side]})
            ports[name] = api.create(
                "port",
                network_id=nets[side]["id"],
                name=f"{lab.prefix}-{name}",
                mac_address=f"fa:16:3e:00:46:{n:02x}",
                fixed_ips=fixed,
                device_owner="compute:nova",
                **{"binding:host_id": host},
                **attrs,
            )
            scratch.ports.append(ports[name]["id"])
            vms[name] = scratch.vm(name, host, ports[name])
        for vm in vms.values():
            api.wait_status(vm.port_id, "ACTIVE")
            vm.enable_ipv6()
        yield {"router": router, "nets": nets, "vms": vms, "ports": ports}
    finally:
        for subnet_id in attached:
            api.call(
                "PUT",
                f"/v2.0/routers/{router['id']}/remove_router_interface",
                {"subnet_id": subnet_id},
            )
        api.delete("router", router["id"], missing_ok=True)
        scratch.cleanup()


def _router_mac(api: Api, router_id: str, network_id: str) -> str:
    ports = api.call("GET", f"/v2.0/ports?device_id={router_id}&network_id={network_id}")["ports"]
    return str(ports[0]["mac_address"])


def _slaac(vm: Vm, address: str) -> None:
    wait_for(lambda: address in vm.addresses6(), 30, f"{vm.name} to configure {address}")


def test_slaac_configures_exactly_the_ports_eui64_address_and_the_router_as_default(
    api: Api, six: dict[str, Any]
) -> None:
    a, port = six["vms"]["a"], six["ports"]["a"]
    address = _v6(port)
    assert address.startswith(V6["L"])
    _slaac(a, address)
    assert a.addresses6() == [address]
    gateway = flows.link_local(_router_mac(api, six["router"]["id"], six["nets"]["L"]["id"]))
    wait_for(lambda: gateway in a.default_route6(), 10, "the router as default route")


def test_dhcpv6_stateful_leases_the_ports_address_and_dns(six: dict[str, Any]) -> None:
    c = six["vms"]["c"]
    lease = c.dhcp6()
    assert lease.get("new_ip6_address") == _v6(six["ports"]["c"]), lease
    assert f"{V6['R']}53" in lease.get("new_dhcp6_name_servers", ""), lease
    assert _v6(six["ports"]["c"]) in c.addresses6()


def test_dhcpv6_stateless_gives_dns_and_slaac_the_address(six: dict[str, Any]) -> None:
    d = six["vms"]["d"]
    _slaac(d, _v6(six["ports"]["d"]))
    assert d.default_route6() == ""  # no router on S: addresses, no default route
    lease = d.dhcp6(stateless=True)
    assert f"{V6['S']}53" in lease.get("new_dhcp6_name_servers", ""), lease
    assert "new_ip6_address" not in lease


def test_ping6_across_hosts_with_neighbours_answered_on_the_host(
    api: Api, six: dict[str, Any], lab: Lab
) -> None:
    a, b = six["vms"]["a"], six["vms"]["b"]
    for vm in (a, b):
        _slaac(vm, _v6(six["ports"][vm.name]))
    target = _v6(six["ports"]["b"])
    assert a.ping(target)
    assert b.mac in a.x("ip", "-6", "neigh", "show", target)
    # answered by h1's flow (on demand, the first solicitation went on from the agent's
    # answer before that flow was in: the next one is the flow's)
    a.x("ip", "-6", "neigh", "flush", "dev", "eth0")
    assert a.ping(target, count=1)
    answered = [
        f for f in lab.hosts["h1"].dump_flows(f"table={flows.ARP_RESPONDER}") if target in f
    ]
    assert answered and "n_packets=0," not in answered[0], answered


def test_ping6_and_tcp_through_the_router_with_one_hop_less(six: dict[str, Any]) -> None:
    a, c = six["vms"]["a"], six["vms"]["c"]
    _slaac(a, _v6(six["ports"]["a"]))
    if _v6(six["ports"]["c"]) not in c.addresses6():
        c.dhcp6()
    wait_for(lambda: "default via fe80:" in c.default_route6(), 30, "c's default route")
    target = _v6(six["ports"]["c"])
    out = a.x("ping", "-c", "2", "-W", "2", target, check=False)
    hops = re.findall(r"ttl=(\d+)", out)
    assert hops and all(h == "63" for h in hops), out
    with listening(c, 5611):
        assert connect(a, target, 5611) == CONNECTED


def test_a_forged_ipv6_source_is_dropped(six: dict[str, Any]) -> None:
    a, b = six["vms"]["a"], six["vms"]["b"]
    _slaac(b, _v6(six["ports"]["b"]))
    target = _v6(six["ports"]["b"])
    fake = f"{V6['L']}bad"
    before = in_echos6(b)
    a.x("ip", "-6", "addr", "add", f"{fake}/64", "dev", "eth0", "nodad")
    try:
        with forged(a, b, target):
            a.x("ping", "-c", "3", "-i", "0.1", "-W", "1", "-I", fake, target, check=False)
    finally:
        a.x("ip", "-6", "addr", "del", f"{fake}/64", "dev", "eth0", check=False)
    assert in_echos6(b) == before
    assert a.ping(target)  # the real address still works


def test_an_ipv6_group_rule_opens_one_tcp_port_and_nothing_else(six: dict[str, Any]) -> None:
    a, w = six["vms"]["a"], six["vms"]["w"]
    _slaac(w, _v6(six["ports"]["w"]))
    target = _v6(six["ports"]["w"])
    with listening(w, WEB_PORT, WEB_PORT + 1):
        assert connect(a, target, WEB_PORT) == CONNECTED
        assert connect(a, target, WEB_PORT + 1, timeout=1.0) == "timeout"
    assert not a.ping(target, count=2, wait=0.5)


def test_agent_kill9_loses_no_ipv6_packet(
    api: Api, lab: Lab, server: AlcorServer, six: dict[str, Any]
) -> None:
    a = six["vms"]["a"]
    target = _v6(six["ports"]["b"])
    assert a.ping(target)
    proc = ping_bg(a, target, 250)
    kill9_and_restart(api, lab, server, "h2")
    out = ping_result(proc)
    assert " 0% packet loss" in out, out
