"""Neighbours on demand: which networks hosts learn by the first packet, and the answers.

Why: a host that joins a network normally fetches and installs its whole neighbour table and
follows every change of it (`alcor.net.<network>`). For a network of a million ports that is a
million entries on every host that has one VM there (26 s to install here) and every port
change of the network on every such host. In on-demand mode a host holds only what its VMs
talk to: a miss (ARP or neighbour solicitation for an unknown address, a frame to an unknown
MAC, a packet routed to an unknown next hop) goes to its agent by packet-in; the agent asks
`alcor.rpc.resolve` (misses batched into one request), installs the answer as an ordinary
neighbour entry and re-injects the packet (`alcor.agent.ondemand`).

Which networks: a network's `alcor:neighbor_resolution` (admin only) forces `preload` or
`on_demand`; `auto` (the default) means on demand once the network holds
`neighbor_on_demand_threshold` addresses (a server setting; 0: every overlay network, -1:
never). The size is the count of addresses allocated on its subnets, read from the
allocator's per-bucket counters: a few rows per subnet whatever the network's size. The mode
is evaluated whenever the network's state is rendered for a host (each batch that gives a
host a port there, a network change, a host's full state); hosts that already hold the
network keep the mode they got until its state reaches them again. Hosts in either mode on
one network are both correct: the compiler publishes on the network's subject and, for a
network that may be on demand, the invalidations below. Flat networks are never on demand:
their broadcast already reaches every host on the physical segment.

Invalidation (how a host that cached a port hears that it moved, changed or went): every
change of a port of such a network is also published on the port's own subject
`alcor.nbr.<network>.<port>`, which exactly the hosts that resolved the port subscribe to (they
subscribe before asking, so no change between the answer and the subscription is missed).
NATS keeps the interest registry and drops the message where nobody listens, so a change
costs one publish and reaches only the hosts concerned, whatever the network's size. The
entries carry revisions; hosts apply them with the usual revision guard.

Flooding: hosts of an on-demand network do not see its table, so its broadcast list travels
in `NetworkState.flood_tunnel_ips` (the VTEPs of the hosts with a bound port there); the
compiler re-sends the network's state to its hosts when a host joins or leaves it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from alcor.southbound.protocol import goalstate_pb2 as pb

AUTO, PRELOAD, ON_DEMAND = "auto", "preload", "on_demand"
DEFAULT_THRESHOLD = 10_000  # addresses: above this, a full table costs a host > 0.1 s

# The server's `neighbor_on_demand_threshold`, set once at start (`configure`): one value per
# server process, read wherever a network's state is rendered (compiler, RPCs, audit).
_threshold = -1


def configure(threshold: int) -> None:
    global _threshold
    _threshold = threshold


def _mode(row: Mapping[str, Any]) -> str | None:
    """The network's forced mode, AUTO, or None for a flat network (never on demand)."""
    if (row.get("provider_network_type") or "vxlan") == "flat":
        return None
    return row.get("alcor_neighbor_resolution") or AUTO


def is_on_demand(row: Mapping[str, Any]) -> bool:
    """Whether hosts resolve the network's neighbours on demand (`row` as `build.load_networks`
    gives it, with `addresses_in_use`)."""
    mode = _mode(row)
    if mode != AUTO:
        return mode == ON_DEMAND
    return 0 <= _threshold <= (row.get("addresses_in_use") or 0)


def may_be_on_demand(row: Mapping[str, Any]) -> bool:
    """Whether a host may hold the network on demand now or soon (a host keeps the mode it
    got until the network's state reaches it again): its port changes are then also
    published as invalidations."""
    mode = _mode(row)
    return mode == ON_DEMAND or (mode == AUTO and _threshold >= 0)


@functools.lru_cache(maxsize=65536)
def canonical_ip(text: str) -> str | None:
    """The address as the allocator displays it, or None if it is not an address. Cached:
    `ipaddress` took a fifth of a resolve's 0.3 ms when the server had been idle."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def query_key(q: pb.ResolveQuery) -> tuple[str, str, str]:
    return (q.network_id, q.ip_address, q.mac_address.lower())


def answers(
    queries: Iterable[pb.ResolveQuery], entries: Iterable[pb.NeighborState]
) -> pb.ResolveReply:
    """The reply: every entry found, and the queries none of them answers."""
    reply = pb.ResolveReply()
    queries = list(queries)
    by_ip = any(q.ip_address for q in queries)  # else the entries' addresses answer nothing
    found: set[tuple[str, str, str]] = set()
    for entry in entries:
        reply.neighbors.append(entry)
        mac = entry.mac_address.lower()
        found.add((entry.network_id, "", mac))
        for f in entry.fixed_ips if by_ip else ():
            found.add((entry.network_id, canonical_ip(f.ip_address) or f.ip_address, ""))
    for q in queries:
        ip = canonical_ip(q.ip_address) if q.ip_address else ""
        if (q.network_id, ip or "", "" if q.ip_address else q.mac_address.lower()) not in found:
            reply.unknown.append(q)
    return reply


def by_address(
    queries: Iterable[pb.ResolveQuery],
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(network -> addresses asked, network -> MACs asked), canonical forms."""
    ips: dict[str, set[str]] = {}
    macs: dict[str, set[str]] = {}
    for q in queries:
        if q.ip_address:
            ip = canonical_ip(q.ip_address)
            if ip is not None:
                ips.setdefault(q.network_id, set()).add(ip)
        elif q.mac_address:
            macs.setdefault(q.network_id, set()).add(q.mac_address.lower())
    return ips, macs
