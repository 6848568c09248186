"""Security groups on real packets: Neutron API -> real `alcor server` -> agents -> OVS
conntrack, checked by TCP connections between VMs of one network on the lab's three hosts.

Every blocked case shows a connection attempt timing out (the SYN or its answer dropped),
never merely "not connected". A module-wide client VM `c1` (h1) sits in an open group (all
IPv4 in); each test boots its own targets in the groups under test. Changes (rules, group
membership) are polled until they take effect; the observed delays are printed (`-s`).

    c1 10.3.0.11 (h1, open group)      targets 10.3.0.2x, one per test, on h2/h3
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from alcor.agent import flows, security
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.conftest import preloaded
from tests.e2e.neutron import Api, Scratch
from tests.e2e.traffic import (
    CONNECTED,
    TIMEOUT,
    connect,
    forge_and_ping,
    forged,
    in_echos,
    listening,
    streaming,
    wait_connect,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

CIDR = "10.3.0.0/24"
PAIR_IP = "10.3.0.200"  # an allowed address pair
FORGED_IP = "10.3.0.99"  # nobody's


def ip(n: int) -> str:
    return f"10.3.0.{n}"


def mac(n: int) -> str:
    return f"fa:16:3e:00:03:{n:02x}"


def tcp_in(port: int, **attrs: Any) -> dict[str, Any]:
    return {
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "tcp",
        "port_range_min": port,
        "port_range_max": port,
        **attrs,
    }


@dataclass
class Base:
    net: dict[str, Any]
    open_group: str
    c1: Vm


def boot(scratch: Scratch, net: dict[str, Any], name: str, host: str, n: int, **attrs: Any) -> Vm:
    """A VM with address `ip(n)`, its lease held and its port ACTIVE."""
    port = scratch.port(net["id"], host, ip(n), mac(n), **attrs)
    vm = scratch.vm(name, host, port)
    assert vm.lease().get("ip") == ip(n), vm.lease()
    scratch.api.wait_status(port["id"], "ACTIVE")
    return vm


@pytest.fixture(scope="module")
def base(api: Api, lab: Lab) -> Iterator[Base]:
    scratch = Scratch(api, lab)
    try:
        net = scratch.network("sg", CIDR, ip(1))
        group = scratch.group("open", [{"direction": "ingress", "ethertype": "IPv4"}])
        c1 = boot(scratch, net, "c1", "h1", 11, security_groups=[group["id"]])
        yield Base(net, group["id"], c1)
    finally:
        scratch.cleanup()


def test_group_admitting_only_ssh_passes_22_not_8080_cross_host(
    base: Base, scratch: Scratch
) -> None:
    sg = scratch.group("ssh", [tcp_in(22)])
    t1 = boot(scratch, base.net, "t1", "h2", 21, security_groups=[sg["id"]])
    with listening(t1, 22, 8080):
        assert connect(t1, ip(21), 8080) == CONNECTED  # listening (over t1's loopback)
        assert connect(base.c1, ip(21), 22) == CONNECTED
        assert connect(base.c1, ip(21), 8080) == TIMEOUT


def test_stateful_replies_pass_without_ingress_rule_unsolicited_blocked(
    base: Base, scratch: Scratch
) -> None:
    sg = scratch.group("noingress")  # Neutron's default egress rules only
    t2 = boot(scratch, base.net, "t2", "h3", 22, security_groups=[sg["id"]])
    with listening(base.c1, 9000), listening(t2, 9000):
        assert connect(t2, ip(11), 9000) == CONNECTED  # SYN-ACK and echo are +est
        assert connect(base.c1, ip(22), 9000) == TIMEOUT


def test_stateless_group_needs_the_reply_direction_too(
    api: Api, base: Base, scratch: Scratch
) -> None:
    sg = scratch.group("stateless", stateful=False)
    assert sg["stateful"] is False
    t3 = boot(scratch, base.net, "t3", "h2", 23, security_groups=[sg["id"]])
    with listening(base.c1, 9001):
        before = in_echos(base.c1)
        assert not t3.ping(ip(11), count=2)
        assert in_echos(base.c1) - before == 2  # the requests got there, no reply came back
        assert connect(t3, ip(11), 9001) == TIMEOUT
        scratch.rule(
            sg["id"],
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            remote_ip_prefix=f"{ip(11)}/32",
        )
        took = wait_connect(t3, ip(11), 9001, CONNECTED)
        print(f"stateless: reply rule effective after {took:.2f} s")
        assert not t3.ping(ip(11), count=2)  # ICMP replies still have no rule


def test_remote_group_membership_opens_and_cuts(api: Api, base: Base, scratch: Scratch) -> None:
    clients = scratch.group("clients")
    server = scratch.group("server", [tcp_in(22, remote_group_id=clients["id"])])
    t4 = boot(scratch, base.net, "t4", "h3", 24, security_groups=[server["id"]])
    v4 = boot(scratch, base.net, "v4", "h1", 14, security_groups=[base.open_group])
    with listening(t4, 22):
        assert connect(v4, ip(24), 22) == TIMEOUT
        api.update("port", v4.port_id, security_groups=[base.open_group, clients["id"]])
        took = wait_connect(v4, ip(24), 22, CONNECTED, deadline=5.0)
        print(f"remote group: join effective after {took:.2f} s")
        with streaming(v4, ip(24), 22) as stream:
            wait_for(stream.flowing, 5, "the stream to flow")
            left = time.monotonic()
            api.update("port", v4.port_id, security_groups=[base.open_group])
            wait_for(lambda: not stream.flowing(1.0), 15, "the established stream to be cut")
            print(f"remote group: last reply {stream.replies[-1] - left:.2f} s into the update")
            replies = len(stream.replies)
            time.sleep(2.0)
            assert len(stream.replies) == replies, "the cut stream came back"
        assert connect(v4, ip(24), 22) == TIMEOUT


def test_rule_add_and_delete_take_effect(api: Api, base: Base, scratch: Scratch) -> None:
    sg = scratch.group("rules")
    t5 = boot(scratch, base.net, "t5", "h2", 25, security_groups=[sg["id"]])
    with listening(t5, 7000):
        assert connect(base.c1, ip(25), 7000) == TIMEOUT
        start = time.monotonic()
        rule = scratch.rule(sg["id"], **tcp_in(7000))
        wait_connect(base.c1, ip(25), 7000, CONNECTED, deadline=5.0)
        print(f"rule add: first connection {time.monotonic() - start:.2f} s after the call")
        with streaming(base.c1, ip(25), 7000) as stream:
            wait_for(stream.flowing, 5, "the stream to flow")
            start = time.monotonic()
            api.delete("security_group_rule", rule["id"])
            wait_for(lambda: not stream.flowing(1.0), 15, "the established stream to be cut")
            print(f"rule delete: last reply {stream.replies[-1] - start:.2f} s into the call")
        assert connect(base.c1, ip(25), 7000) == TIMEOUT


def test_port_security_off_passes_everything(base: Base, lab: Lab, scratch: Scratch) -> None:
    t6 = boot(scratch, base.net, "t6", "h3", 26, port_security_enabled=False, security_groups=[])
    cookie = flows.cookie(security.KIND_SG_PORT, t6.port_id)
    assert not lab.hosts["h3"].dump_flows(f"cookie={cookie:#x}/-1")
    with listening(t6, 22, 8080, 9000):
        for port in (22, 8080, 9000):
            assert connect(base.c1, ip(26), port) == CONNECTED, port
    assert base.c1.ping(ip(26))


def test_forged_source_dropped_even_where_the_group_admits_all(
    base: Base, scratch: Scratch
) -> None:
    t7 = boot(scratch, base.net, "t7", "h2", 27, security_groups=[base.open_group])
    with listening(t7, 9000):
        assert connect(base.c1, ip(27), 9000) == CONNECTED
        assert forge_and_ping(base.c1, t7, ip(27), forged_ip=FORGED_IP) == 0
        with forged(base.c1, t7, ip(27), forged_ip=FORGED_IP):
            assert connect(base.c1, ip(27), 9000, source=FORGED_IP) == TIMEOUT


def pair_vm(scratch: Scratch, base: Base, name: str, n: int, group: str) -> Vm:
    """A VM on h3 whose port has the allowed address pair PAIR_IP, held as a secondary
    address of its eth0."""
    vm = boot(
        scratch,
        base.net,
        name,
        "h3",
        n,
        security_groups=[group],
        allowed_address_pairs=[{"ip_address": PAIR_IP}],
    )
    vm.x("ip", "addr", "add", f"{PAIR_IP}/24", "dev", "eth0")
    return vm


def test_allowed_address_pair_is_reachable_through_the_group(base: Base, scratch: Scratch) -> None:
    sg = scratch.group("pair", [tcp_in(22)])
    t8 = pair_vm(scratch, base, "t8", 28, sg["id"])
    with listening(t8, 22, 8080):
        assert connect(base.c1, PAIR_IP, 22) == CONNECTED
        assert connect(base.c1, PAIR_IP, 8080) == TIMEOUT
    # c1's ARP for the pair was answered by t8 itself (the request flooded to it, and its
    # reply from PAIR_IP passed t8's port security).
    neigh = base.c1.x("ip", "neigh", "show", PAIR_IP, "dev", "eth0")
    assert t8.mac in neigh, neigh


@pytest.mark.skipif(
    not preloaded(),
    reason="on demand, the server resolves fixed IPs and MACs only: a pair address is flooded"
    " and answered by its holder (test_allowed_address_pair_is_reachable_through_the_group)",
)
def test_allowed_address_pair_arp_is_answered_by_the_responder(
    base: Base, lab: Lab, scratch: Scratch
) -> None:
    """A pair address only one port claims is answered on the asking host, like a fixed IP
    (a VRRP address claimed by two ports is not: `model.NeighborSet`)."""
    t10 = pair_vm(scratch, base, "t10", 30, base.open_group)
    base.c1.x("ip", "neigh", "flush", "to", PAIR_IP, check=False)  # an earlier holder's MAC
    assert base.c1.ping(PAIR_IP)
    answers = [
        f
        for f in lab.hosts["h1"].dump_flows(f"table={flows.ARP_RESPONDER}")
        if f"arp_tpa={PAIR_IP}" in f and f"set_field:{t10.mac}->arp_tha" in f
    ]
    assert answers and "n_packets=0," not in answers[0], answers


def test_agent_kill9_keeps_allowed_stream_and_blocked_port(
    api: Api, base: Base, lab: Lab, server: AlcorServer, scratch: Scratch
) -> None:
    sg = scratch.group("ssh9", [tcp_in(22)])
    t9 = boot(scratch, base.net, "t9", "h3", 29, security_groups=[sg["id"]])
    host = lab.hosts["h3"]
    started = api.agents()["h3"]["started_at"]
    with listening(t9, 22, 8080), streaming(base.c1, ip(29), 22) as stream:
        wait_for(stream.flowing, 5, "the stream to flow")
        since = time.monotonic()
        host.stop_agent(hard=True)
        outcomes = [connect(base.c1, ip(29), 8080, timeout=1.0)]  # no agent
        host.start_agent(server.nats_url)
        while api.agents()["h3"]["started_at"] == started:  # restarting, then resyncing
            outcomes.append(connect(base.c1, ip(29), 8080, timeout=1.0))
            assert time.monotonic() - since < 30, "h3 did not re-register"
        outcomes += [connect(base.c1, ip(29), 8080, timeout=1.0) for _ in range(3)]
        assert set(outcomes) == {TIMEOUT}, outcomes
        assert stream.flowing(), "the allowed stream stopped"
        gap = stream.max_gap(since)
        print(f"kill -9: longest gap in the allowed stream {gap:.2f} s")
        assert gap < 1.0, gap
        assert connect(base.c1, ip(29), 22) == CONNECTED
    api.wait_status(t9.port_id, "ACTIVE")


def test_address_group_admits_its_addresses_and_follows_edits(
    api: Api, base: Base, scratch: Scratch
) -> None:
    """A rule whose remote is an address group admits a source in the group and not one
    outside it; adding the outsider's address to the group admits it without any port or rule
    being touched, and removing it cuts it off again."""
    ag = scratch.address_group("office", [f"{ip(11)}/32", "198.51.100.0/24"])
    sg = scratch.group("ag", [tcp_in(22, remote_address_group_id=ag["id"])])
    t11 = boot(scratch, base.net, "t11", "h3", 31, security_groups=[sg["id"]])
    v11 = boot(scratch, base.net, "v11", "h2", 15, security_groups=[base.open_group])
    with listening(t11, 22):
        wait_connect(base.c1, ip(31), 22, CONNECTED, deadline=5.0)
        assert connect(v11, ip(31), 22) == TIMEOUT
        path = f"/v2.0/address-groups/{ag['id']}"
        api.call("PUT", f"{path}/add_addresses", {"addresses": [f"{ip(15)}/32"]})
        took = wait_connect(v11, ip(31), 22, CONNECTED, deadline=5.0)
        print(f"address group: added address admitted after {took:.2f} s")
        api.call("PUT", f"{path}/remove_addresses", {"addresses": [f"{ip(15)}/32"]})
        wait_connect(v11, ip(31), 22, TIMEOUT, deadline=5.0)
        assert connect(base.c1, ip(31), 22) == CONNECTED
