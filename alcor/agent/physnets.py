"""Provider networks on this host: flat networks on physical networks (`bridge_mappings`).

Why: an external network (the one floating IPs and SNAT live on) is a real segment outside
the overlay. As with Neutron's OVS agent, the host reaches each physical network through an
OVS bridge that holds the NIC (`br-ex`), patched to br-int: `int-<bridge>` on br-int,
`phy-<bridge>` on the physical bridge, which stays a plain learning switch (NORMAL).

Key: br-int's pipeline names the network of a packet by `tun_id` (an overlay's VNI, 24 bits).
A flat network gets a key above that space, derived on the host from where its physical
network sorts among the mappings: ``PHYSNET_KEY | index << 12`` (the low 12 bits stay free for
a VLAN id). It never leaves the host (frames on the patch port carry no metadata), so the
server needs to know nothing about it, and the rest of the pipeline (port security, ACLs,
security groups, DHCP, ARP answers) works on flat networks unchanged.

Flows of a flat network with local ports (its `("net", id)` owner; added to `flows`' tables):

- CLASSIFY: untagged frames from the patch port -> tun_id := key, reg0[0] := 1 (from outside:
  never sent back out, the same bit as "from a tunnel"), on to DISPATCH.
- L2_FORWARD: known local MACs are the ports' own flows (`flows.port_flows`, through the
  ingress ACL and security groups); unknown unicast from a local port -> the patch port (the
  physical segment learns where MACs are); broadcast from a local port -> local ports + patch,
  from the patch -> local ports only. Unknown unicast from the patch is dropped (it is for
  another host).

No tunnel ever carries a flat network: neighbour entries (ports on other hosts) only feed the
ARP responder, their frames go through the physical segment. Nor does the agent answer ARP for
the subnet's gateway or DHCP address there: those belong to real boxes on the segment (the
gateway is the outside router), which must answer for themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from alcor.agent.flows import (
    BROADCAST,
    CLASSIFY,
    DISPATCH,
    FROM_LOCAL,
    FROM_TUNNEL,
    L2_FORWARD,
    PRIO_FLOOD,
    Flow,
    dedupe,
    local_out,
)
from alcor.southbound.protocol import goalstate_pb2 as pb

PHYSNET_TYPES = ("flat",)
PHYSNET_KEY = 1 << 24  # first key above the 24-bit VNI space
PRIO_UNKNOWN = 1  # below every known destination, above the table's drop
MAX_NAME = 15  # Linux interface name limit: the patch ports' names must fit


class Bridge(NamedTuple):
    """How this host reaches one physical network."""

    name: str  # the physical bridge (br-ex)
    key: int  # the network key in br-int of a flat network on it
    patch_ofport: int  # `int-<bridge>` on br-int


def parse_bridge_mappings(spec: str) -> dict[str, str]:
    """`physnet1:br-ex,physnet2:br-foo` -> {physical network: bridge}.

    As Neutron's `parse_mappings`: a physical network or a bridge named twice is an error
    (one bridge for two physical networks would merge them)."""
    out: dict[str, str] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        physnet, sep, bridge = (s.strip() for s in entry.partition(":"))
        if not sep or not physnet or not bridge:
            raise ValueError(f"bridge_mappings: {entry!r} is not <physical network>:<bridge>")
        if physnet in out:
            raise ValueError(f"bridge_mappings: physical network {physnet!r} mapped twice")
        if bridge in out.values():
            raise ValueError(f"bridge_mappings: bridge {bridge!r} mapped twice")
        if len(patch_ports(bridge)[0]) > MAX_NAME:
            raise ValueError(f"bridge_mappings: bridge name {bridge!r} too long for patch ports")
        out[physnet] = bridge
    return out


def patch_ports(bridge: str) -> tuple[str, str]:
    """(br-int side, physical bridge side) of the patch between br-int and `bridge`."""
    return f"int-{bridge}", f"phy-{bridge}"


def keys(mappings: Iterable[str]) -> dict[str, int]:
    """The flat network key of each mapped physical network (stable for a given mapping)."""
    return {name: PHYSNET_KEY | i << 12 for i, name in enumerate(sorted(mappings))}


def is_physnet(network: pb.NetworkState) -> bool:
    """True for a network on a physical network (reached through a bridge, not a tunnel)."""
    return network.network_type in PHYSNET_TYPES


def network_flows(bridge: Bridge, local_ofports: Iterable[int]) -> list[Flow]:
    """Classification from the patch port and the flood/unknown-unicast lists of one flat
    network (its local ports' own delivery flows are `flows.port_flows`)."""
    key, patch = bridge.key, bridge.patch_ofport
    local = ",".join(local_out(p) for p in sorted(set(local_ofports)))
    flows = [
        Flow(
            CLASSIFY,
            100,
            f"in_port={patch},vlan_tci=0x0000/0x1fff",
            f"set_field:{key}->tun_id,load:1->NXM_NX_REG0[0],goto_table:{DISPATCH}",
        ),
        Flow(
            L2_FORWARD,
            PRIO_FLOOD,
            f"{FROM_LOCAL},tun_id={key},{BROADCAST}",
            ",".join(a for a in (local, f"output:{patch}") if a),
        ),
        Flow(L2_FORWARD, PRIO_UNKNOWN, f"{FROM_LOCAL},tun_id={key}", f"output:{patch}"),
    ]
    if local:
        flows.append(Flow(L2_FORWARD, PRIO_FLOOD, f"{FROM_TUNNEL},tun_id={key},{BROADCAST}", local))
    return dedupe(flows)
