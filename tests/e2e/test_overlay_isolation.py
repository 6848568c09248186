"""Overlay types share one id space, on real packets: a VXLAN and a Geneve network with the
same CIDR, the same fixed IPs and VMs on the same two hosts stay two networks.

A host carries every overlay network in the tunnel-key field (`tun_id`), whatever the
network's `provider:network_type`, so a VXLAN 5 and a Geneve 5 network would merge on a
host. The API therefore refuses a segmentation id that a network of another overlay type
holds (409 `SegmentationIdInUse`); here we check that, then that the two networks are
isolated on the wire: unicast to an address both networks use is answered only inside the
sender's network, an address only the other network has is unreachable (by ARP and by a
frame forged straight to its MAC), and broadcasts stay in their network, on the sender's
host as well as on the other host.

What the data plane does with `provider:network_type` is pinned too: the lab's agents run
with the default `--tunnel-type vxlan`, each host has one flow-based tunnel port of that
type, and the Geneve network crosses the underlay as VXLAN (UDP 4789) with its segmentation
id as VNI; no Geneve (UDP 6081) packet is ever sent. Counted with nftables counters on the
lab's underlay bridge, in the lab's own underlay namespace.

Layout (two of the lab's hosts; `.11`/`.12` in both networks, `.13` only in B, `.14` only
in A):

    network A, VXLAN:   a1 10.77.0.11 (h1)   a2 10.77.0.12 (h2)   a3 10.77.0.14 (h2)
    network B, Geneve:  b1 10.77.0.11 (h1)   b2 10.77.0.12 (h2)   b3 10.77.0.13 (h2)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.netns import run
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, Scratch
from tests.e2e.traffic import in_echos

pytestmark = pytest.mark.ovs

CIDR = "10.77.0.0/24"  # both networks
BROADCAST = "10.77.0.255"
HOSTS = ("h1", "h2")
VXLAN_PORT, GENEVE_PORT = 4789, 6081
# (network, VM, host, last octet of its address)
LAYOUT = (
    ("A", "a1", "h1", 11),
    ("A", "a2", "h2", 12),
    ("A", "a3", "h2", 14),
    ("B", "b1", "h1", 11),
    ("B", "b2", "h2", 12),
    ("B", "b3", "h2", 13),
)
TABLE = "ovliso"  # nftables table of this module, in the lab's underlay namespace


def addr(n: int) -> str:
    return f"10.77.0.{n}"


def mac(key: str, n: int) -> str:
    """Distinct MACs in the two networks, so ARP answers tell which VM answered."""
    return f"fa:16:3e:77:{0xA if key == 'A' else 0xB:02x}:{n:02x}"


def neigh_mac(vm: Vm, ip: str) -> str:
    """The MAC the VM resolved `ip` to ("" when unresolved or failed)."""
    out = vm.x("ip", "neigh", "show", ip, "dev", "eth0").split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


def echos_delivered(vms: dict[str, Vm], send: Any) -> dict[str, int]:
    """Run `send()`, return how many echo requests each VM received meanwhile."""
    before = {name: in_echos(vm) for name, vm in vms.items()}
    send()
    time.sleep(0.3)  # let the last packets land
    return {name: in_echos(vm) - before[name] for name, vm in vms.items()}


def refused(api: Api, **attrs: Any) -> dict[str, Any]:
    """POST a network that must be refused; the Neutron error body."""
    resp = api.http.post("/v2.0/networks", json={"network": attrs})
    if resp.is_success:  # wrongly accepted: leave nothing behind
        api.delete("network", resp.json()["network"]["id"], missing_ok=True)
    assert resp.status_code == 409, (resp.status_code, resp.text)
    return resp.json()["NeutronError"]  # type: ignore[no-any-return]


class Underlay:
    """Counters of the overlay packets crossing the lab's underlay bridge (nftables, bridge
    family, forward hook): VXLAN per VNI of our networks, and every Geneve packet."""

    def __init__(self, lab: Lab, vnis: dict[str, int]) -> None:
        self.ns = lab.underlay_ns
        self.vnis = vnis
        self.nft(f"add table bridge {TABLE}")
        self.nft(
            f"add chain bridge {TABLE} overlay "
            "{ type filter hook forward priority 0; policy accept; }"
        )
        for key, vni in vnis.items():
            self.nft(f"add counter bridge {TABLE} vxlan_{key}")
            self.nft(
                f"add rule bridge {TABLE} overlay udp dport {VXLAN_PORT} "
                f"@th,96,24 {vni} counter name vxlan_{key}"
            )
        self.nft(f"add counter bridge {TABLE} geneve")
        self.nft(f"add rule bridge {TABLE} overlay udp dport {GENEVE_PORT} counter name geneve")

    def nft(self, command: str, *flags: str) -> str:
        return run(["nft", *flags, command], ns=self.ns)

    def packets(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name in [f"vxlan_{k}" for k in self.vnis] + ["geneve"]:
            doc = json.loads(self.nft(f"list counter bridge {TABLE} {name}", "-j"))
            counter = next(o["counter"] for o in doc["nftables"] if "counter" in o)
            out[name] = int(counter["packets"])
        return out

    def delete(self) -> None:
        run(["nft", "delete", "table", "bridge", TABLE], ns=self.ns, check=False)


@pytest.fixture(scope="module")
def nets(api: Api, lab: Lab) -> Iterator[dict[str, dict[str, Any]]]:
    """Network A (VXLAN) and network B (Geneve), admin-made, both 10.77.0.0/24, ids automatic."""
    scratch = Scratch(api, lab)
    try:
        yield {
            key: scratch.network(f"ov{key}", CIDR, "10.77.0.1", {"provider:network_type": net_type})
            for key, net_type in (("A", "vxlan"), ("B", "geneve"))
        }
    finally:
        scratch.cleanup()


@pytest.fixture(scope="module")
def underlay(lab: Lab, nets: dict[str, dict[str, Any]]) -> Iterator[Underlay]:
    counters = Underlay(lab, {k: n["provider:segmentation_id"] for k, n in nets.items()})
    try:
        yield counters
    finally:
        counters.delete()


@pytest.fixture(scope="module")
def vms(api: Api, lab: Lab, nets: dict[str, dict[str, Any]]) -> Iterator[dict[str, Vm]]:
    """The six VMs of LAYOUT, each holding its DHCP lease, their ports ACTIVE."""
    scratch = Scratch(api, lab)
    try:
        out: dict[str, Vm] = {}
        for key, name, host, n in LAYOUT:
            port = scratch.port(nets[key]["id"], host, addr(n), mac(key, n))
            vm = scratch.vm(f"ov{name}", host, port)
            assert vm.lease().get("ip") == addr(n), (name, vm.lease())
            out[name] = vm
        for vm in out.values():
            api.wait_status(vm.port_id, "ACTIVE")
        yield out
    finally:
        scratch.cleanup()


def test_vxlan_and_geneve_share_one_segmentation_id_space(
    api: Api, lab: Lab, nets: dict[str, dict[str, Any]]
) -> None:
    a, b = nets["A"], nets["B"]
    assert (a["provider:network_type"], b["provider:network_type"]) == ("vxlan", "geneve")
    assert a["provider:segmentation_id"] != b["provider:segmentation_id"]
    name = f"{lab.prefix}-ovdup"
    for net_type, taken in (("geneve", a), ("vxlan", b)):
        err = refused(
            api,
            name=name,
            **{
                "provider:network_type": net_type,
                "provider:segmentation_id": taken["provider:segmentation_id"],
            },
        )
        assert err["type"] == "SegmentationIdInUse", err
        assert str(taken["provider:segmentation_id"]) in err["message"], err
    assert api.call("GET", f"/v2.0/networks?name={name}")["networks"] == []
    for net in (a, b):  # the refusals took nothing from the networks that hold the ids
        again = api.get("network", net["id"])
        assert again["provider:segmentation_id"] == net["provider:segmentation_id"]
        assert again["provider:network_type"] == net["provider:network_type"]


def test_within_each_network_vms_on_the_two_hosts_ping_each_other(vms: dict[str, Vm]) -> None:
    for src, dst in (("a1", "a2"), ("a2", "a1"), ("a1", "a3"), ("b1", "b2"), ("b2", "b1")):
        target = vms[dst].lease()["ip"]
        assert vms[src].ping(target), f"{src} -> {dst} ({target})"
    assert vms["b1"].ping(addr(13))  # b3 answers its own network


def test_the_geneve_network_crosses_the_underlay_as_vxlan_with_its_id_as_vni(
    api: Api,
    lab: Lab,
    nets: dict[str, dict[str, Any]],
    vms: dict[str, Vm],
    underlay: Underlay,
) -> None:
    """Pins what the agent does with `provider:network_type` today: nothing on the wire.
    The host's single tunnel port has the agent's `--tunnel-type` (vxlan in the lab) and
    every network, Geneve ones included, goes through it with `tun_id` = segmentation id."""
    agents = api.agents()
    for host in HOSTS:
        assert agents[host]["configurations"]["tunnel_types"] == ["vxlan"], agents[host]
        h = lab.hosts[host]
        tunnels = [
            row.split(",")
            for row in h.vsctl(
                "--format=csv", "--no-headings", "--columns=name,type,ofport", "list", "Interface"
            ).splitlines()
            if row.split(",")[1] in ("vxlan", "geneve", "gre", "stt")
        ]
        assert [t[:2] for t in tunnels] == [["vxlan-tun", "vxlan"]], tunnels
        ofport = tunnels[0][2]
        classify = h.dump_flows(f"table={flows.CLASSIFY}")
        for net in nets.values():  # both networks arrive by that one port, told apart by VNI
            vni = net["provider:segmentation_id"]
            assert [f for f in classify if f"in_port={ofport}" in f and f"tun_id={vni:#x}" in f], (
                host,
                vni,
                classify,
            )
    before = underlay.packets()
    assert vms["b1"].x("ping", "-c", "5", "-i", "0.05", "-W", "1", addr(12)).count("ttl=") == 5
    assert vms["a1"].x("ping", "-c", "5", "-i", "0.05", "-W", "1", addr(12)).count("ttl=") == 5
    after = underlay.packets()
    delta = {k: after[k] - before[k] for k in after}
    # 5 requests h1 -> h2 and 5 replies back, per network, each under its own VNI.
    assert delta["vxlan_B"] >= 10 and delta["vxlan_A"] >= 10, delta
    assert after["geneve"] == 0, after  # never, since the networks exist


def test_an_address_both_networks_use_is_answered_only_in_the_senders_network(
    vms: dict[str, Vm],
) -> None:
    for src, own, other in (("a1", "a2", "b2"), ("b1", "b2", "a2")):
        got = echos_delivered(
            {own: vms[own], other: vms[other]},
            lambda s=src: vms[s].x("ping", "-c", "3", "-i", "0.1", "-W", "1", addr(12)),  # type: ignore[misc]
        )
        assert got == {own: 3, other: 0}, (src, got)
        assert neigh_mac(vms[src], addr(12)) == vms[own].mac, src


def _forged_to(src: Vm, dst: Vm, dst_ip: str) -> int:
    """Echo requests `dst` receives when `src` sends straight to its MAC (static ARP entry,
    so the frames leave `src` whatever ARP says)."""
    src.x("ip", "neigh", "replace", dst_ip, "lladdr", dst.mac, "dev", "eth0", "nud", "permanent")
    try:
        return echos_delivered(
            {"dst": dst},
            lambda: src.x("ping", "-c", "3", "-i", "0.1", "-W", "1", dst_ip, check=False),
        )["dst"]
    finally:
        src.x("ip", "neigh", "del", dst_ip, "dev", "eth0", check=False)


def test_an_address_only_the_other_network_has_is_unreachable(vms: dict[str, Vm]) -> None:
    # .13 is b3's (B only), .14 is a3's (A only); both VMs sit on h2, the senders on h1.
    for src, target, holder, ip in (("a1", "b3", "a3", addr(13)), ("b1", "a3", "b3", addr(14))):
        before = in_echos(vms[target])
        assert not vms[src].ping(ip, count=2), f"{src} reached {ip} in the other network"
        assert neigh_mac(vms[src], ip) == "", (src, vms[src].x("ip", "neigh"))
        assert in_echos(vms[target]) == before, (src, target)
        # Even a frame sent straight to the other network's MAC does not get there.
        assert _forged_to(vms[src], vms[target], ip) == 0, (src, target)
        assert vms[src].ping(vms[holder].lease()["ip"])  # the sender itself is fine


def test_broadcasts_stay_in_their_network_on_both_hosts(vms: dict[str, Vm]) -> None:
    # Broadcast echo requests are counted by every kernel that receives them (and ignored):
    # the flood of one network reaches its own VMs on the other host and no one else, not
    # even the other network's VM that shares the sender's host and address.
    for src, own, other in (
        ("a1", ("a2", "a3"), ("b1", "b2", "b3")),
        ("b1", ("b2", "b3"), ("a1", "a2", "a3")),
    ):
        got = echos_delivered(
            {n: vms[n] for n in (*own, *other)},
            lambda s=src: vms[s].x(  # type: ignore[misc]
                "ping", "-b", "-c", "4", "-i", "0.1", "-W", "1", BROADCAST, check=False
            ),
        )
        assert got == {**dict.fromkeys(own, 4), **dict.fromkeys(other, 0)}, (src, got)
