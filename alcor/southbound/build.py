"""Database rows -> goal-state protobufs, in batched queries shared by the compiler and the RPCs.

Why one module for both: a delta and a full state must describe a resource identically, or an
agent that resyncs would see a difference where there is none. The compiler's translators
(`translators/`) and the full-state RPCs render every resource with these functions. Every
loader takes a set of ids and issues one `IN (...)` query (chunked to stay under bind-parameter
limits), never one query per row: a host's full state is a fixed handful of indexed queries
whatever its size. Each loader's statement is built once, as a `prepared.SelectIn`, and runs on
the driver's connection: a one-port batch is a dozen such queries, and SQLAlchemy's work per
expanding-IN statement was most of the compiler's time for it.

This is also the one module of the southbound that imports resource modules (for their tables),
so that the southbound depends on resource declarations in one place only (the rest of the
southbound, its tests and benchmarks take `ports_t`, `networks_t`, `subnets_t`, `groups_t`,
`rules_t`, `port_groups_t`, `acls_t`, `acl_rules_t`, `routers_t` and `fips_t` from here), plus
`alcor.resources.protocols`, the declarations' own table of protocol names, so that hosts get
protocols as numbers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

# The southbound's only imports of resource modules: declarations, for their tables (never
# rules; tests/unit/test_layers.py holds it to that).
import alcor.resources.declarations.address_group as _ag
import alcor.resources.declarations.floatingip as _fip
import alcor.resources.declarations.network as _network
import alcor.resources.declarations.network_acl as _acl
import alcor.resources.declarations.port as _port
import alcor.resources.declarations.port_forwarding as _pf
import alcor.resources.declarations.router as _router
import alcor.resources.declarations.security_group as _sg
import alcor.resources.declarations.subnet as _subnet
import alcor.resources.declarations.subnetpool as _subnetpool
from alcor.ipam.tables import ipam_buckets, ipam_used
from alcor.resources import protocols
from alcor.southbound import ondemand
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.store.prepared import IN_CHUNK, SelectIn
from alcor.store.schema import hosts, router_gateways, subject_seqs

networks_t = _network.resource.table
subnets_t = _subnet.resource.table
ports_t = _port.resource.table
groups_t = _sg.group.table
rules_t = _sg.rule.table
port_groups_t = _sg.port_security_groups
acls_t = _acl.acl.table
acl_rules_t = _acl.rule.table
routers_t = _router.resource.table
fips_t = _fip.resource.table
address_groups_t = _ag.resource.table
port_bindings_t = _port.port_bindings
pfs_t = _pf.resource.table
subnetpools_t = _subnetpool.resource.table
ROUTER_GATEWAY = _port.ROUTER_GATEWAY
ROUTER_GATEWAY_SQL = _port.ROUTER_GATEWAY_SQL

K = TypeVar("K", bound=Hashable)
Row = Mapping[Any, Any]  # a row as loaded (a dict, or `sa.RowMapping`), or one with attached values

PORT_COLUMNS = [
    ports_t.c[name]
    for name in (
        "id",
        "network_id",
        "mac_address",
        "fixed_ips",
        "admin_state_up",
        "port_security_enabled",
        "allowed_address_pairs",
        "security_groups",
        "extra_dhcp_opts",
        "device_owner",
        "device_id",
        "dns_name",
        "binding_host_id",
        "revision_number",
        "status",
        "project_id",
    )
]

# A port's effective network ACL, computed in the query that loads it (no query per port):
# its own ACL, else the one of its first fixed IP's subnet, else its network's default. The
# join tables are keyed by port and by subnet and a network has one default ACL, so each
# port stays one row.
_own_acl = _acl.acl_ports.alias("own_acl")
_subnet_acl = _acl.acl_subnets.alias("subnet_acl")
_default_acl = acls_t.alias("default_acl")
PORT_ACL = sa.func.coalesce(
    _own_acl.c.network_acl_id, _subnet_acl.c.network_acl_id, _default_acl.c.id
)
PORTS_WITH_ACL = (
    ports_t.outerjoin(_own_acl, _own_acl.c.port_id == ports_t.c.id)
    .outerjoin(
        _subnet_acl,
        _subnet_acl.c.subnet_id == ports_t.c.fixed_ips[(0, "subnet_id")].as_string(),
    )
    .outerjoin(
        _default_acl,
        sa.and_(_default_acl.c.network_id == ports_t.c.network_id, _default_acl.c.is_default),
    )
)
PORT_SELECT = sa.select(*PORT_COLUMNS, PORT_ACL.label("network_acl_id")).select_from(PORTS_WITH_ACL)
_PORTS_BY_ID = SelectIn(PORT_SELECT, ports_t.c.id)
_PORTS_BY_HOST = SelectIn(PORT_SELECT, ports_t.c.binding_host_id)
_BOUND_PORTS_BY_NETWORK = SelectIn(
    PORT_SELECT.where(ports_t.c.binding_host_id != ""), ports_t.c.network_id
)


def chunked(values: Iterable[K], size: int = IN_CHUNK) -> Iterator[list[K]]:
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rows_in(conn: sa.Connection, query: SelectIn, ids: Iterable[Hashable]) -> list[Row]:
    """`query`'s statement restricted to its column `IN ids`, chunked; ids are deduplicated,
    and none means no query at all."""
    return query.rows(conn, ids)


def _grouped(rows: Iterable[Row], key: str) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


# -- row -> message ---------------------------------------------------------------------------
def network_state(row: Row) -> pb.NetworkState:
    """`row` as `load_networks` gives it: with the ids of the routers attached to it and, for
    a network on demand (`ondemand`), `flood`, its hosts' VTEPs."""
    on_demand = ondemand.is_on_demand(row)
    return pb.NetworkState(
        id=row["id"],
        op=pb.UPSERT,
        revision=row["revision_number"] or 0,
        network_type=row["provider_network_type"] or "vxlan",
        vni=row["provider_segmentation_id"] or 0,
        mtu=row["mtu"] or 0,
        port_security_enabled=bool(row["port_security_enabled"]),
        router_external=bool(row["router_external"]),
        project_id=row["project_id"] or "",
        physical_network=row["provider_physical_network"] or "",
        router_ids=row["router_ids"],
        on_demand=on_demand,
        flood_tunnel_ips=row.get("flood", ()) if on_demand else (),
    )


def subnet_state(row: Row, dns_domain: str = "") -> pb.SubnetState:
    return pb.SubnetState(
        id=row["id"],
        op=pb.UPSERT,
        revision=row["revision_number"] or 0,
        network_id=row["network_id"],
        ip_version=row["ip_version"] or 4,
        cidr=row["cidr"] or "",
        gateway_ip=row["gateway_ip"] or "",
        enable_dhcp=bool(row["enable_dhcp"]),
        dns_nameservers=list(row["dns_nameservers"] or []),
        host_routes=[
            pb.HostRoute(destination=r["destination"], nexthop=r["nexthop"])
            for r in row["host_routes"] or []
        ],
        dns_domain=dns_domain,
        ipv6_ra_mode=row["ipv6_ra_mode"] or "",
        ipv6_address_mode=row["ipv6_address_mode"] or "",
    )


def _fixed_ips(value: Iterable[Mapping[str, str]] | None) -> list[pb.FixedIp]:
    return [pb.FixedIp(subnet_id=f["subnet_id"], ip_address=f["ip_address"]) for f in value or []]


def _pairs(value: Iterable[Mapping[str, str]] | None) -> list[pb.AddressPair]:
    return [
        pb.AddressPair(ip_address=p["ip_address"], mac_address=p.get("mac_address") or "")
        for p in value or []
    ]


def port_state(row: Row, revision: int | None = None) -> pb.PortState:
    """`row` as the port loaders give it (with its effective ACL and its floating IPs)."""
    return pb.PortState(
        id=row["id"],
        op=pb.UPSERT,
        revision=row["revision_number"] if revision is None else revision,
        network_id=row["network_id"],
        mac_address=row["mac_address"] or "",
        fixed_ips=_fixed_ips(row["fixed_ips"]),
        admin_state_up=bool(row["admin_state_up"]),
        port_security_enabled=row["port_security_enabled"] is not False,
        allowed_address_pairs=_pairs(row["allowed_address_pairs"]),
        security_group_ids=list(row["security_groups"] or []),
        extra_dhcp_opts=[
            pb.DhcpOption(
                opt_name=o["opt_name"],
                opt_value=str(o["opt_value"]),
                ip_version=o.get("ip_version") or 4,
            )
            for o in row["extra_dhcp_opts"] or []
        ],
        device_owner=row["device_owner"] or "",
        device_id=row["device_id"] or "",
        dns_name=row["dns_name"] or "",
        host_id=row["binding_host_id"] or "",
        network_acl_id=row["network_acl_id"] or "",
        floating_ips=row["floating_ips"],
    )


def inactive_port_state(row: Row, host: str) -> pb.PortState:
    """The port as `host`, which holds an inactive binding of it (a live migration's
    destination), programs it: everything but its floating IPs, which stay with its host."""
    state = port_state(row)
    state.inactive = True
    state.host_id = host
    state.ClearField("floating_ips")
    return state


def fip_mac(address: str) -> str:
    """The MAC a floating IP answers ARP with on the external segment: derived from the
    address (its low 24 bits; unique within a /8), so it moves with the address from host to
    host, and no two hosts ever claim one MAC on the segment."""
    low = int(ipaddress.IPv4Address(address)) & 0xFFFFFF
    return "fa:16:3f:" + ":".join(f"{low >> s & 0xFF:02x}" for s in (16, 8, 0))


_FIP_SELECT = (
    sa.select(
        fips_t.c.id,
        fips_t.c.revision_number,
        fips_t.c.floating_ip_address,
        fips_t.c.fixed_ip_address,
        fips_t.c.router_id,
        fips_t.c.floating_network_id,
        fips_t.c.port_id,
        subnets_t.c.cidr,
        subnets_t.c.gateway_ip,
        networks_t.c.provider_physical_network,
    )
    .select_from(
        fips_t.join(subnets_t, subnets_t.c.id == fips_t.c.subnet_id).join(
            networks_t, networks_t.c.id == fips_t.c.floating_network_id
        )
    )
    .order_by(fips_t.c.floating_ip_address)
)
_FIPS_BY_PORT = SelectIn(_FIP_SELECT, fips_t.c.port_id)


def _with_fips(conn: sa.Connection, rows: list[Row]) -> list[Row]:
    """Port rows plus `floating_ips`, their FloatingIpStates (one query for all of them)."""
    by_port: dict[str, list[pb.FloatingIpState]] = {}
    for f in rows_in(conn, _FIPS_BY_PORT, [r["id"] for r in rows]):
        by_port.setdefault(f["port_id"], []).append(
            pb.FloatingIpState(
                id=f["id"],
                revision=f["revision_number"] or 0,
                floating_ip_address=f["floating_ip_address"],
                fixed_ip_address=f["fixed_ip_address"] or "",
                router_id=f["router_id"] or "",
                external_network_id=f["floating_network_id"],
                physical_network=f["provider_physical_network"] or "",
                external_gateway_ip=f["gateway_ip"] or "",
                external_cidr=f["cidr"],
                mac_address=fip_mac(f["floating_ip_address"]),
            )
        )
    return [{**r, "floating_ips": by_port.get(r["id"], [])} for r in rows]


def neighbor_state(row: Row, tunnel_ip: str, revision: int | None = None) -> pb.NeighborState:
    return pb.NeighborState(
        port_id=row["id"],
        op=pb.UPSERT,
        revision=row["revision_number"] if revision is None else revision,
        network_id=row["network_id"],
        mac_address=row["mac_address"] or "",
        fixed_ips=_fixed_ips(row["fixed_ips"]),
        host_id=row["binding_host_id"] or "",
        tunnel_ip=tunnel_ip,
        allowed_address_pairs=_pairs(row["allowed_address_pairs"]),
    )


def _protocol(stored: str | None) -> tuple[int | None, str]:
    """A stored protocol as its number and as the goal state's text ("" = any)."""
    number = protocols.number(stored)
    return number, "" if number is None else str(number)


def rule_state(row: Row) -> pb.SecurityGroupRuleState:
    """A rule with its protocol as a number and ICMP type/code apart from port ranges."""
    number, protocol = _protocol(row["protocol"])
    rule = pb.SecurityGroupRuleState(
        id=row["id"],
        direction=row["direction"],
        ethertype=row["ethertype"] or "IPv4",
        protocol=protocol,
        remote_ip_prefix=row["normalized_cidr"] or "",
        # An address group is a remote's address set (`address_group_members`).
        remote_group_id=row["remote_group_id"] or row.get("remote_address_group_id") or "",
    )
    lo, hi = row["port_range_min"], row["port_range_max"]
    if number in protocols.ICMP_PROTOCOLS:
        if lo is not None:
            rule.icmp_type = lo
        if hi is not None:
            rule.icmp_code = hi
    else:
        rule.port_range_min, rule.port_range_max = lo or 0, hi or 0
    return rule


def acl_rule_state(row: Row) -> pb.NetworkAclRuleState:
    """An ACL rule with its protocol as a number (the API keeps ICMP type/code apart)."""
    _, protocol = _protocol(row["protocol"])
    rule = pb.NetworkAclRuleState(
        number=row["number"],
        direction=row["direction"],
        ethertype=row["ethertype"] or "IPv4",
        protocol=protocol,
        ip_prefix=row["ip_prefix"] or "",
        port_range_min=row["port_range_min"] or 0,
        port_range_max=row["port_range_max"] or 0,
        action=row["action"],
    )
    if row["icmp_type"] is not None:
        rule.icmp_type = row["icmp_type"]
    if row["icmp_code"] is not None:
        rule.icmp_code = row["icmp_code"]
    return rule


def member_ips(row: Row) -> list[str]:
    """Every address a port may source: fixed IPs, then allowed-address-pair addresses."""
    ips = [f["ip_address"] for f in row["fixed_ips"] or []]
    ips.extend(p["ip_address"] for p in row["allowed_address_pairs"] or [])
    return list(dict.fromkeys(ips))


def address_member(row: Row) -> pb.AddressSetMember:
    return pb.AddressSetMember(
        port_id=row["id"], op=pb.UPSERT, revision=row["revision_number"], ips=member_ips(row)
    )


def _group_ips(addresses: Iterable[str]) -> list[str]:
    """An address group's CIDRs as member addresses; a /0 goes as its two halves, since the
    agent leaves /0 members out (from an allowed address pair it would admit every source),
    while a group holding 0.0.0.0/0 does mean every source."""
    nets = (ipaddress.ip_network(a) for a in addresses)
    return [str(h) for n in nets for h in (n.subnets(1) if n.prefixlen == 0 else (n,))]


_ADDRESS_GROUPS = SelectIn(sa.select(address_groups_t), address_groups_t.c.id)


def address_group_members(
    conn: sa.Connection, ids: Iterable[str]
) -> dict[str, pb.AddressSetMember]:
    """address group id -> the group as the one member of its own address set (for the ids
    that are address groups): a rule naming an address group sends its id as the remote
    group, so the agent follows and matches it like a remote security group's members."""
    return {
        r["id"]: pb.AddressSetMember(
            port_id=r["id"],
            op=pb.UPSERT,
            revision=r["revision_number"] or 0,
            ips=_group_ips(r["addresses"] or []),
        )
        for r in rows_in(conn, _ADDRESS_GROUPS, ids)
    }


def remote_groups(groups: Iterable[pb.SecurityGroupState]) -> set[str]:
    """The groups whose address sets a holder of `groups` needs (their rules' remote groups)."""
    return {r.remote_group_id for g in groups for r in g.rules if r.remote_group_id}


# -- loaders ----------------------------------------------------------------------------------
def load_ports(conn: sa.Connection, ids: Iterable[str]) -> dict[str, Row]:
    """port id -> its row with its effective `network_acl_id` and its `floating_ips`."""
    rows = _with_fips(conn, rows_in(conn, _PORTS_BY_ID, ids))
    return {r["id"]: r for r in rows}


def ports_on_hosts(conn: sa.Connection, host_ids: Iterable[str]) -> dict[str, list[Row]]:
    """host id -> the ports bound to it (index on binding_host_id), as `load_ports`."""
    rows = rows_in(conn, _PORTS_BY_HOST, host_ids)
    return _grouped(_with_fips(conn, rows), "binding_host_id")


_BINDINGS_BY_PORT = SelectIn(
    sa.select(port_bindings_t.c.port_id, port_bindings_t.c.host), port_bindings_t.c.port_id
)
_BINDINGS_BY_HOST = SelectIn(
    sa.select(port_bindings_t.c.port_id, port_bindings_t.c.host), port_bindings_t.c.host
)


def inactive_hosts(conn: sa.Connection, port_ids: Iterable[str]) -> dict[str, set[str]]:
    """port id -> the hosts of its inactive bindings (`binding-extended`)."""
    out: dict[str, set[str]] = {}
    for r in rows_in(conn, _BINDINGS_BY_PORT, port_ids):
        out.setdefault(r["port_id"], set()).add(r["host"])
    return out


def guests_on_hosts(conn: sa.Connection, host_ids: Iterable[str]) -> dict[str, list[Row]]:
    """host id -> the ports with an inactive binding on it, as `load_ports`."""
    pairs = rows_in(conn, _BINDINGS_BY_HOST, host_ids)
    ports = load_ports(conn, {p["port_id"] for p in pairs})
    out: dict[str, list[Row]] = {}
    for p in pairs:
        row = ports.get(p["port_id"])
        if row is not None and row["binding_host_id"] != p["host"]:
            out.setdefault(p["host"], []).append(row)
    return out


def bound_ports_on_networks(
    conn: sa.Connection, network_ids: Iterable[str]
) -> dict[str, list[Row]]:
    """network id -> its bound ports (index on network_id), as `load_ports`."""
    rows = rows_in(conn, _BOUND_PORTS_BY_NETWORK, network_ids)
    return _grouped(_with_fips(conn, rows), "network_id")


# The addresses allocated on a network's subnets, from the allocator's per-bucket counters:
# the size `ondemand` compares with its threshold, a few rows per subnet at any size.
_IN_USE = (
    sa.select(sa.func.coalesce(sa.func.sum(ipam_buckets.c.used), 0))
    .select_from(ipam_buckets.join(subnets_t, subnets_t.c.id == ipam_buckets.c.pool_id))
    .where(subnets_t.c.network_id == networks_t.c.id)
    .scalar_subquery()
)
_NETWORKS = SelectIn(sa.select(networks_t, _IN_USE.label("addresses_in_use")), networks_t.c.id)


def load_networks(conn: sa.Connection, ids: Iterable[str]) -> dict[str, Row]:
    """network id -> its row plus `router_ids`, the routers with an interface on it (hosts
    follow those routers' subjects)."""
    rows = rows_in(conn, _NETWORKS, ids)
    routers = routers_on_networks(conn, [r["id"] for r in rows])
    flood = flood_hosts(conn, [r["id"] for r in rows if ondemand.is_on_demand(r)])
    out: dict[str, Row] = {}
    for r in rows:
        net = out[r["id"]] = {**r, "router_ids": sorted(routers.get(r["id"], ()))}
        if ondemand.is_on_demand(net):
            net["flood_hosts"] = flood.get(r["id"], {})
            net["flood"] = sorted(set(net["flood_hosts"].values()) - {""})
    return out


# The hosts of networks (or of groups), by a skip scan of an index on (network, host): each
# step is one probe for the smallest host after the last one found, so it costs the networks'
# hosts, not their ports (a DISTINCT read every port: a network's PUT -> published took
# 370 ms at 100k ports, the compiler publishing nothing else meanwhile; 12 ms with this).
# Written out: SQLite skips only with statistics it may not have, PostgreSQL not before 18.
# Seeded with "" rather than a first probe, so that one plan makes every probe (PostgreSQL
# planned a first probe of its own on the (host, network) index: a walk from the smallest
# host until one is on the network).
def _skip_scan(name: str, ids: sa.Column[Any], key: sa.Column[Any], host: sa.Column[Any]) -> Any:
    """A recursive CTE of (`key` value, host) for the `ids` bound (an expanding `ids`
    parameter), each id first paired with "" (`host > ""` leaves those out)."""
    seeds = (
        sa.select(ids.label(key.name), sa.cast(sa.literal(""), host.type).label("host"))
        .where(ids.in_(sa.bindparam("ids", expanding=True)))
        .cte(name, recursive=True)
    )
    after = (
        sa.select(host)
        .where(key == seeds.c[key.name], host > seeds.c.host)
        .order_by(host)
        .limit(1)
        .scalar_subquery()
    )
    return seeds.union_all(sa.select(seeds.c[key.name], after).where(seeds.c.host.is_not(None)))


_network_hosts = _skip_scan(
    "network_hosts", networks_t.c.id, ports_t.c.network_id, ports_t.c.binding_host_id
)
_NETWORK_HOSTS = sa.select(_network_hosts).where(_network_hosts.c.host > "")


def _scanned_hosts(conn: sa.Connection, scan: Any, ids: Iterable[str]) -> dict[str, set[str]]:
    """id -> the hosts a skip scan (`_skip_scan`) finds for it."""
    out: dict[str, set[str]] = {}
    for part in chunked(sorted(set(ids))):
        for key, host in conn.execute(scan, {"ids": part}):
            out.setdefault(key, set()).add(host)
    return out


def bound_hosts(conn: sa.Connection, network_ids: Iterable[str]) -> dict[str, set[str]]:
    """network id -> the hosts with a bound port on it (`_NETWORK_HOSTS`)."""
    return _scanned_hosts(conn, _NETWORK_HOSTS, network_ids)


# At most `cap` of a host's bound ports on a network: whether the host joined or left it in
# a batch needs to know only whether it holds more than the ports that arrived there.
_PORTS_OF_HOST = sa.select(sa.func.count()).select_from(
    sa.select(ports_t.c.id)
    .where(
        ports_t.c.network_id == sa.bindparam("network_id"),
        ports_t.c.binding_host_id == sa.bindparam("host_id"),
    )
    .limit(sa.bindparam("cap"))
    .subquery()
)


def flood_hosts(conn: sa.Connection, network_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """network id -> host id -> VTEP of every registered host with a bound port on it (one
    that never registered has no VTEP, nor an agent to flood to): the broadcast list of an
    on-demand network (`NetworkState.flood_tunnel_ips`). It costs the networks' hosts, not
    the region's (one probe per registered host before: 2.4 ms for a 10-port network among
    10k registered hosts on SQLite, 0.14 ms now)."""
    bound = bound_hosts(conn, network_ids)
    vteps = tunnel_ips(conn, {h for hs in bound.values() for h in hs})
    return {nid: {h: vteps[h] for h in hs if h in vteps} for nid, hs in bound.items()}


def ports_of_hosts(
    conn: sa.Connection, keys: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, str, int], int]:
    """(network, host, cap) -> bound ports of the network on the host, counted up to `cap`.
    One index probe per key, reading at most `cap` entries (not the host's thousands of
    ports of a huge network): asked only for hosts arriving on or leaving an on-demand
    network in a batch."""
    return {
        (nid, h, cap): conn.execute(
            _PORTS_OF_HOST, {"network_id": nid, "host_id": h, "cap": cap}
        ).scalar_one()
        for nid, h, cap in keys
    }


INTERFACE_PORTS = sa.select(ports_t.c.network_id, ports_t.c.device_id).where(
    ports_t.c.device_owner == sa.literal_column(_port.ROUTER_INTERFACE_SQL)
)
_INTERFACES_BY_NETWORK = SelectIn(INTERFACE_PORTS, ports_t.c.network_id)
_INTERFACES_BY_ROUTER = SelectIn(INTERFACE_PORTS, ports_t.c.device_id)


def routers_on_networks(conn: sa.Connection, network_ids: Iterable[str]) -> dict[str, set[str]]:
    """network id -> routers with an interface port on it (the partial index of router
    interfaces: before it, a scan of every port of the network, 100 ms of a one-port batch
    of a 100k-port network)."""
    out: dict[str, set[str]] = {}
    for r in rows_in(conn, _INTERFACES_BY_NETWORK, network_ids):
        out.setdefault(r["network_id"], set()).add(r["device_id"])
    return out


def networks_of_routers(conn: sa.Connection, router_ids: Iterable[str]) -> dict[str, set[str]]:
    """router id -> the networks it has an interface on (index on device_id)."""
    out: dict[str, set[str]] = {}
    for r in rows_in(conn, _INTERFACES_BY_ROUTER, router_ids):
        out.setdefault(r["device_id"], set()).add(r["network_id"])
    return out


_GATEWAYS = (
    sa.select(
        ports_t.c.id,
        ports_t.c.device_id,
        ports_t.c.mac_address,
        ports_t.c.fixed_ips,
        ports_t.c.network_id,
        networks_t.c.provider_physical_network,
        router_gateways.c.host_id,
        hosts.c.tunnel_ip,
    )
    .select_from(
        ports_t.join(networks_t, networks_t.c.id == ports_t.c.network_id)
        .outerjoin(router_gateways, router_gateways.c.router_id == ports_t.c.device_id)
        .outerjoin(hosts, hosts.c.host_id == router_gateways.c.host_id)
    )
    .where(ports_t.c.device_owner == ROUTER_GATEWAY)
)
_GATEWAYS_BY_ROUTER = SelectIn(_GATEWAYS, ports_t.c.device_id)
_V4_SUBNETS = SelectIn(
    sa.select(subnets_t.c.id, subnets_t.c.cidr, subnets_t.c.gateway_ip).where(
        subnets_t.c.ip_version == 4
    ),
    subnets_t.c.id,
)


def _gateways(
    conn: sa.Connection, routers: dict[str, pb.RouterState], snat: dict[str, bool]
) -> None:
    """Fill each router's `gateway`: its gateway port's first IPv4 address on the external
    network, the subnet's next hop, and where its SNAT is placed."""
    found = rows_in(conn, _GATEWAYS_BY_ROUTER, routers)
    sids = {f["subnet_id"] for g in found for f in g["fixed_ips"] or ()}
    subs = {s["id"]: s for s in rows_in(conn, _V4_SUBNETS, sids)}
    for g in found:
        fixed = next((f for f in g["fixed_ips"] or () if f["subnet_id"] in subs), None)
        if fixed is None:
            continue
        sub = subs[fixed["subnet_id"]]
        routers[g["device_id"]].gateway.CopyFrom(
            pb.RouterGateway(
                network_id=g["network_id"],
                physical_network=g["provider_physical_network"] or "",
                ip_address=fixed["ip_address"],
                mac_address=g["mac_address"] or "",
                cidr=sub["cidr"],
                next_hop=sub["gateway_ip"] or "",
                enable_snat=snat[g["device_id"]],
                snat_host=g["host_id"] or "",
                snat_tunnel_ip=g["tunnel_ip"] or "",
                port_id=g["id"],
            )
        )


_ROUTERS = SelectIn(
    sa.select(
        routers_t.c.id,
        routers_t.c.admin_state_up,
        routers_t.c.routes,
        routers_t.c.project_id,
        routers_t.c.external_gateway_info,
    ),
    routers_t.c.id,
)
_ROUTER_INTERFACES = SelectIn(
    sa.select(ports_t.c.id, ports_t.c.device_id, ports_t.c.mac_address, ports_t.c.fixed_ips)
    .where(ports_t.c.device_owner == _port.ROUTER_INTERFACE)
    .order_by(ports_t.c.created_at, ports_t.c.id),
    ports_t.c.device_id,
)
_SUBNETS_WITH_VNI = SelectIn(
    sa.select(subnets_t.c.id, subnets_t.c.cidr, subnets_t.c.ip_version, subnets_t.c.network_id)
    .add_columns(
        networks_t.c.provider_segmentation_id.label("vni"),
        subnetpools_t.c.address_scope_id,
    )
    .select_from(
        subnets_t.join(networks_t, networks_t.c.id == subnets_t.c.network_id).outerjoin(
            subnetpools_t, subnetpools_t.c.id == subnets_t.c.subnetpool_id
        )
    ),
    subnets_t.c.id,
)
_FORWARDINGS_BY_ROUTER = SelectIn(
    sa.select(
        fips_t.c.router_id,
        fips_t.c.floating_ip_address,
        pfs_t.c.id,
        pfs_t.c.floatingip_id,
        pfs_t.c.protocol,
        pfs_t.c.external_port_range,
        pfs_t.c.internal_ip_address,
        pfs_t.c.internal_port_range,
    )
    .select_from(pfs_t.join(fips_t, fips_t.c.id == pfs_t.c.floatingip_id))
    .order_by(pfs_t.c.id),
    fips_t.c.router_id,
)


def _span(text: str) -> tuple[int, int]:
    lo, hi = text.split(":")
    return int(lo), int(hi)


def _forwardings(conn: sa.Connection, routers: dict[str, pb.RouterState]) -> None:
    """Fill each router's `port_forwardings` (one query for all of them)."""
    for f in rows_in(conn, _FORWARDINGS_BY_ROUTER, routers):
        ext_lo, ext_hi = _span(f["external_port_range"])
        int_lo, int_hi = _span(f["internal_port_range"])
        routers[f["router_id"]].port_forwardings.append(
            pb.PortForwardingState(
                id=f["id"],
                floatingip_id=f["floatingip_id"],
                floating_ip_address=f["floating_ip_address"],
                mac_address=fip_mac(f["floating_ip_address"]),
                protocol=f["protocol"],
                external_port_min=ext_lo,
                external_port_max=ext_hi,
                internal_ip_address=f["internal_ip_address"],
                internal_port_min=int_lo,
                internal_port_max=int_hi,
            )
        )


def load_routers(conn: sa.Connection, ids: Iterable[str]) -> dict[str, pb.RouterState]:
    """router id -> its whole state: one interface per fixed IP of its interface ports, with
    the subnet's CIDR, the network's VNI and mode and the pool's address scope (four queries:
    routers, ports, subnets+networks+pools, networks), its gateway and its floating IPs' port
    forwardings."""
    out: dict[str, pb.RouterState] = {}
    snat: dict[str, bool] = {}
    for r in rows_in(conn, _ROUTERS, ids):
        info = r["external_gateway_info"] or {}
        snat[r["id"]] = bool(info.get("enable_snat", True))
        out[r["id"]] = pb.RouterState(
            id=r["id"],
            op=pb.UPSERT,
            admin_state_up=bool(r["admin_state_up"]),
            routes=[
                pb.HostRoute(destination=x["destination"], nexthop=x["nexthop"])
                for x in r["routes"] or []
            ],
            project_id=r["project_id"] or "",
        )
    ports = rows_in(conn, _ROUTER_INTERFACES, out)
    sids = {f["subnet_id"] for p in ports for f in p["fixed_ips"] or ()}
    subs = {s["id"]: s for s in rows_in(conn, _SUBNETS_WITH_VNI, sids)}
    nets = {n["id"]: n for n in rows_in(conn, _NETWORKS, {s["network_id"] for s in subs.values()})}
    for p in ports:
        for f in p["fixed_ips"] or ():
            sub = subs.get(f["subnet_id"])
            if sub is None:
                continue
            out[p["device_id"]].interfaces.append(
                pb.RouterInterface(
                    port_id=p["id"],
                    network_id=sub["network_id"],
                    subnet_id=sub["id"],
                    vni=sub["vni"] or 0,
                    mac_address=p["mac_address"] or "",
                    ip_address=f["ip_address"],
                    cidr=sub["cidr"],
                    ip_version=sub["ip_version"] or 4,
                    on_demand=ondemand.is_on_demand(nets.get(sub["network_id"]) or {}),
                    address_scope_id=sub["address_scope_id"] or "",
                )
            )
    _gateways(conn, out, snat)
    _forwardings(conn, out)
    return out


def router_delta(conn: sa.Connection, router_id: str) -> pb.RouterDelta:
    """A router's whole state "as of" its subject's seq (the RPC reply); no router when it is
    gone."""
    subject = subjects.router(router_id)
    seq = subject_seq_map(conn, [subject]).get(subject, 0)
    found = pb.RouterDelta(router_id=router_id, seq=seq, prev_seq=seq)
    state = load_routers(conn, [router_id]).get(router_id)
    if state is not None:
        state.revision = seq
        found.routers.append(state)
    return found


_SUBNETS_BY_NETWORK = SelectIn(sa.select(subnets_t), subnets_t.c.network_id)
_TUNNEL_IPS = SelectIn(sa.select(hosts.c.host_id, hosts.c.tunnel_ip), hosts.c.host_id)
_GROUPS = SelectIn(sa.select(groups_t), groups_t.c.id)
_RULES_BY_GROUP = SelectIn(
    sa.select(rules_t).order_by(rules_t.c.created_at, rules_t.c.id), rules_t.c.security_group_id
)


def load_subnets(conn: sa.Connection, network_ids: Iterable[str]) -> dict[str, list[Row]]:
    """network id -> its subnets."""
    return _grouped(rows_in(conn, _SUBNETS_BY_NETWORK, network_ids), "network_id")


def tunnel_ips(conn: sa.Connection, host_ids: Iterable[str]) -> dict[str, str]:
    return {r["host_id"]: r["tunnel_ip"] or "" for r in rows_in(conn, _TUNNEL_IPS, host_ids)}


def load_groups(conn: sa.Connection, ids: Iterable[str]) -> dict[str, pb.SecurityGroupState]:
    """group id -> its state with every rule (two queries: groups, then their rules)."""
    groups = rows_in(conn, _GROUPS, ids)
    out = {
        g["id"]: pb.SecurityGroupState(
            id=g["id"], op=pb.UPSERT, revision=g["revision_number"] or 0, stateful=g["stateful"]
        )
        for g in groups
    }
    for r in rows_in(conn, _RULES_BY_GROUP, out):
        out[r["security_group_id"]].rules.append(rule_state(r))
    return out


# A group's hosts: a skip scan of its members' (group, host) index (`port_security_groups`
# keeps each member's host), so it costs the group's hosts, not its members (read from the
# members: 118 ms for a group of 100,000, 1.8 s for 1M).
_group_hosts = _skip_scan(
    "group_hosts", groups_t.c.id, port_groups_t.c.security_group_id, port_groups_t.c.host
)
_HOSTS_IN_GROUPS = sa.select(_group_hosts).where(_group_hosts.c.host > "")
# The hosts of inactive bindings (a live migration's destination holds the port and what it
# needs): the region's few such bindings with their ports' networks, read from the bindings'
# side (joined from a group's, SQLite walked every member: 11 ms for a group of 100,000;
# filtered by network, a planner may start from the network's ports).
_INACTIVE_BINDINGS = (
    sa.select(port_bindings_t.c.port_id, ports_t.c.network_id, port_bindings_t.c.host)
    .select_from(port_bindings_t.join(ports_t, ports_t.c.id == port_bindings_t.c.port_id))
    .where(port_bindings_t.c.host != "")
)
_GROUPS_OF_PORTS = SelectIn(
    sa.select(port_groups_t.c.port_id, port_groups_t.c.security_group_id),
    port_groups_t.c.port_id,
)


def _inactive_bindings(conn: sa.Connection) -> dict[str, tuple[str, list[str]]]:
    """port id -> (its network, the hosts of its inactive bindings), in the whole region (a
    few rows)."""
    guests: dict[str, tuple[str, list[str]]] = {}
    for port_id, network_id, host in conn.execute(_INACTIVE_BINDINGS):
        guests.setdefault(port_id, (network_id, []))[1].append(host)
    return guests


def hosts_in_groups(conn: sa.Connection, group_ids: Iterable[str]) -> dict[str, set[str]]:
    """group id -> hosts that have at least one port bound in it (membership index), or an
    inactive binding of one."""
    wanted = set(group_ids)
    out = _scanned_hosts(conn, _HOSTS_IN_GROUPS, wanted)
    guests = _inactive_bindings(conn)
    for r in rows_in(conn, _GROUPS_OF_PORTS, guests):
        if r["security_group_id"] in wanted:
            out.setdefault(r["security_group_id"], set()).update(guests[r["port_id"]][1])
    return out


_ACLS = SelectIn(sa.select(acls_t.c.id, acls_t.c.revision_number), acls_t.c.id)
_ACL_RULES = SelectIn(
    sa.select(acl_rules_t).order_by(acl_rules_t.c.direction, acl_rules_t.c.number),
    acl_rules_t.c.network_acl_id,
)


def load_acls(conn: sa.Connection, ids: Iterable[str]) -> dict[str, pb.NetworkAclState]:
    """ACL id -> its state with every rule (two queries: ACLs, then their rules)."""
    out = {
        a["id"]: pb.NetworkAclState(id=a["id"], op=pb.UPSERT, revision=a["revision_number"] or 0)
        for a in rows_in(conn, _ACLS, ids)
    }
    for r in rows_in(conn, _ACL_RULES, out):
        out[r["network_acl_id"]].rules.append(acl_rule_state(r))
    return out


# Which hosts use an ACL (a port's ACL is its own, else its first subnet's, else its
# network's default), without reading every port of its network (that grew with the
# network, the compiler publishing nothing meanwhile: 173 ms at 100,000 ports on SQLite):
# - an ACL of single ports only: those ports' hosts (the associations' index);
# - an ACL of subnets whose addresses are at most `HOLDERS_READ`: the ports holding them
#   (the allocator's key, by subnet), each with its effective ACL, and its single ports;
# - a network's default ACL, or one of larger subnets: every host of the network (the skip
#   scan of `_NETWORK_HOSTS`) that has a port using it (its ports on the network by the
#   (network, host) index, each probed in both association keys, stopping at the first).
_ACL_USES = SelectIn(
    sa.select(
        acls_t.c.id,
        acls_t.c.network_id,
        acls_t.c.is_default,
        sa.exists().where(_acl.acl_subnets.c.network_acl_id == acls_t.c.id).label("has_subnets"),
    ),
    acls_t.c.id,
)
_PORT_ACL_HOSTS = SelectIn(
    sa.select(_acl.acl_ports.c.network_acl_id.label("id"), ports_t.c.binding_host_id).select_from(
        _acl.acl_ports.join(ports_t, ports_t.c.id == _acl.acl_ports.c.port_id)
    ),
    _acl.acl_ports.c.network_acl_id,
)
HOLDERS_READ = 1000
_ACL_ID = sa.bindparam("acl_id", type_=acls_t.c.id.type)
_SUBNETS_HOLDERS = (
    sa.select(ipam_used.c.owner)
    .select_from(
        _acl.acl_subnets.join(ipam_used, ipam_used.c.pool_id == _acl.acl_subnets.c.subnet_id)
    )
    .where(_acl.acl_subnets.c.network_acl_id == _ACL_ID)
    .limit(HOLDERS_READ + 1)
)


def _own_acl_of(port_id: Any) -> Any:
    return (
        sa.select(_acl.acl_ports.c.network_acl_id)
        .where(_acl.acl_ports.c.port_id == port_id)
        .scalar_subquery()
    )


def _subnet_acl_of(fixed_ips: Any) -> Any:
    return (
        sa.select(_acl.acl_subnets.c.network_acl_id)
        .where(_acl.acl_subnets.c.subnet_id == fixed_ips[(0, "subnet_id")].as_string())
        .scalar_subquery()
    )


# `fallback`: the ACL of a port with neither (the ACL itself when it is the default, else "")
_first_user = (
    sa.select(ports_t.c.id)
    .where(
        ports_t.c.network_id == _network_hosts.c.network_id,
        ports_t.c.binding_host_id == _network_hosts.c.host,
        sa.func.coalesce(
            _own_acl_of(ports_t.c.id),
            _subnet_acl_of(ports_t.c.fixed_ips),
            sa.bindparam("fallback", type_=acls_t.c.id.type),
        )
        == _ACL_ID,
    )
    .limit(1)
    .scalar_subquery()
)
_ACL_HOSTS = _NETWORK_HOSTS.where(_first_user.is_not(None))


def _acl_hosts(conn: sa.Connection, acl: Row) -> set[str]:
    """The hosts using one ACL of subnets or one default ACL (see `_ACL_USES`)."""
    aid = acl["id"]
    if not acl["is_default"]:
        holders = conn.execute(_SUBNETS_HOLDERS, {"acl_id": aid}).scalars().all()
        if len(holders) <= HOLDERS_READ:
            users = [p for p in rows_in(conn, _PORTS_BY_ID, holders) if p["network_acl_id"] == aid]
            users += rows_in(conn, _PORT_ACL_HOSTS, [aid])
            return {u["binding_host_id"] for u in users}
    fallback = aid if acl["is_default"] else ""
    params = {"ids": [acl["network_id"]], "acl_id": aid, "fallback": fallback}
    return {host for _, host in conn.execute(_ACL_HOSTS, params)}


def hosts_using_acls(conn: sa.Connection, acl_ids: Iterable[str]) -> dict[str, set[str]]:
    """ACL id -> hosts with a bound port (or an inactive binding of one) whose effective ACL
    it is; what it costs does not grow with the network's ports (see `_ACL_USES`)."""
    wanted = set(acl_ids)
    uses = rows_in(conn, _ACL_USES, wanted)
    of_ports = {u["id"] for u in uses if not u["is_default"] and not u["has_subnets"]}
    out: dict[str, set[str]] = {}
    for r in rows_in(conn, _PORT_ACL_HOSTS, of_ports):
        if r["binding_host_id"]:
            out.setdefault(r["id"], set()).add(r["binding_host_id"])
    for acl in uses:
        if acl["id"] not in of_ports:
            out.setdefault(acl["id"], set()).update(_acl_hosts(conn, acl))
    guests = _inactive_bindings(conn)
    for r in rows_in(conn, _PORTS_BY_ID, guests):
        if r["network_acl_id"] in wanted:
            out.setdefault(r["network_acl_id"], set()).update(guests[r["id"]][1])
    return {aid: {h for h in found if h} for aid, found in out.items() if any(found)}


_SUBJECT_SEQS = SelectIn(
    sa.select(subject_seqs.c.subject, subject_seqs.c.seq), subject_seqs.c.subject
)


def subject_seq_map(conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
    return {r["subject"]: r["seq"] for r in rows_in(conn, _SUBJECT_SEQS, names)}


def hosts_on_networks(conn: sa.Connection, network_ids: Iterable[str]) -> dict[str, set[str]]:
    """network id -> hosts that have at least one port bound on it, or an inactive binding of
    one: a skip scan of the networks' hosts, then the region's inactive bindings."""
    wanted = set(network_ids)
    if not wanted:
        return {}
    out = bound_hosts(conn, wanted)
    for network_id, guests in _inactive_bindings(conn).values():
        if network_id in wanted:
            out.setdefault(network_id, set()).update(guests)
    return out


# -- full states ------------------------------------------------------------------------------
def host_goal_states(conn: sa.Connection, host_ids: Sequence[str]) -> dict[str, pb.HostGoalState]:
    """The full goal state of each host, "as of" the seq last published on its subject.

    The seq is read in the same transaction as the rows, and the rows can only be newer than
    what was published up to that seq, so an agent that applies later deltas with revision
    guards (UPSERT/DELETE only when revision >= what it holds) never goes backwards.
    """
    bound = ports_on_hosts(conn, host_ids)
    guests = guests_on_hosts(conn, host_ids)
    by_host = {h: bound.get(h, []) + guests.get(h, []) for h in host_ids}
    net_ids = {r["network_id"] for rows in by_host.values() for r in rows}
    nets = load_networks(conn, net_ids)
    subs = load_subnets(conn, net_ids)
    groups = load_groups(conn, {g for rows in by_host.values() for r in rows for g in _groups(r)})
    acls = load_acls(
        conn, {r["network_acl_id"] for rows in by_host.values() for r in rows} - {None}
    )
    remotes = remote_groups(groups.values())
    routers = {r for net in nets.values() for r in net["router_ids"]}
    seqs = subject_seq_map(
        conn,
        [subjects.host(h) for h in host_ids]
        + [subjects.network(n) for n in net_ids]
        + [subjects.group(g) for g in remotes]
        + [subjects.router(r) for r in routers],
    )
    states = {h: pb.HostGoalState(host_id=h, seq=seqs.get(subjects.host(h), 0)) for h in host_ids}
    for h, state in states.items():
        rows = by_host.get(h, [])
        state.ports.extend(port_state(r) for r in bound.get(h, []))
        state.ports.extend(inactive_port_state(r, h) for r in guests.get(h, []))
        for nid in sorted({r["network_id"] for r in rows}):
            net = nets.get(nid)
            if net is None:
                continue
            state.networks.append(network_state(net))
            domain = net["dns_domain"] or ""
            state.subnets.extend(subnet_state(s, domain) for s in subs.get(nid, []))
            state.network_seqs[nid] = seqs.get(subjects.network(nid), 0)
            for rid in net["router_ids"]:
                state.router_seqs[rid] = seqs.get(subjects.router(rid), 0)
        held = [groups[g] for g in sorted({g for r in rows for g in _groups(r)}) if g in groups]
        state.security_groups.extend(held)
        used = {r["network_acl_id"] for r in rows}
        state.network_acls.extend(acls[a] for a in sorted(used & acls.keys()))
        for gid in remote_groups(held):
            state.group_seqs[gid] = seqs.get(subjects.group(gid), 0)
    return states


def _groups(port: Row) -> list[str]:
    return list(port["security_groups"] or [])


def address_set(conn: sa.Connection, group_id: str) -> pb.AddressSet:
    """Every bound member port of a group (see `translators.address_set`), "as of" the group
    subject's seq."""
    stmt = (
        sa.select(*PORT_COLUMNS)
        .select_from(ports_t.join(port_groups_t, port_groups_t.c.port_id == ports_t.c.id))
        .where(port_groups_t.c.security_group_id == group_id, ports_t.c.binding_host_id != "")
    )
    subject = subjects.group(group_id)
    seq = subject_seq_map(conn, [subject]).get(subject, 0)
    found = pb.AddressSet(group_id=group_id, seq=seq, chunk=0, chunks=1)
    found.members.extend(address_group_members(conn, [group_id]).values())
    found.members.extend(address_member(r) for r in conn.execute(stmt).mappings())
    return found


# Bound ports as neighbour entries: the columns `neighbor_state` reads, with the tunnel IP.
NEIGHBORS = (
    sa.select(
        ports_t.c.id,
        ports_t.c.network_id,
        ports_t.c.mac_address,
        ports_t.c.fixed_ips,
        ports_t.c.binding_host_id,
        ports_t.c.allowed_address_pairs,
        ports_t.c.revision_number,
        hosts.c.tunnel_ip,
    )
    .select_from(ports_t.outerjoin(hosts, hosts.c.host_id == ports_t.c.binding_host_id))
    .where(ports_t.c.binding_host_id != "")
)
_NEIGHBORS_BY_ID = SelectIn(NEIGHBORS, ports_t.c.id)
# Who holds an address: the allocator's rows by displayed address, with the subnet's network.
_HOLDERS = SelectIn(
    sa.select(ipam_used.c.owner, ipam_used.c.display, subnets_t.c.network_id).select_from(
        ipam_used.join(subnets_t, subnets_t.c.id == ipam_used.c.pool_id)
    ),
    ipam_used.c.display,
)
# Who holds MACs of a network, through the (network_id, mac_address) unique index; prepared
# (`SelectIn`): as an expanding select it cost 0.23 ms of a first packet's 0.6 ms read.
_NEIGHBORS_BY_MAC = SelectIn(
    NEIGHBORS.where(ports_t.c.network_id == sa.bindparam("network_id")), ports_t.c.mac_address
)


def neighbor_table(conn: sa.Connection, network_id: str) -> pb.NeighborTable:
    """Every bound port of a network with its host's tunnel IP, "as of" the subject's seq."""
    stmt = NEIGHBORS.where(ports_t.c.network_id == network_id)
    seq = subject_seq_map(conn, [subjects.network(network_id)]).get(subjects.network(network_id), 0)
    table = pb.NeighborTable(network_id=network_id, seq=seq, chunk=0, chunks=1)
    table.neighbors.extend(
        neighbor_state(r, r["tunnel_ip"] or "") for r in conn.execute(stmt).mappings()
    )
    return table


def resolve(conn: sa.Connection, queries: Sequence[pb.ResolveQuery]) -> pb.ResolveReply:
    """The bound ports that hold the asked addresses and MACs (`ondemand`): addresses through
    the allocator's index of displayed addresses, MACs through the (network, MAC) unique
    index, whatever the networks' sizes."""
    ips, macs = ondemand.by_address(queries)
    port_ids: set[str] = set()
    asked = {ip for wanted in ips.values() for ip in wanted}
    for r in rows_in(conn, _HOLDERS, asked):
        if r["display"] in ips.get(r["network_id"], ()):
            port_ids.add(r["owner"])
    rows = [
        r
        for nid, wanted in macs.items()
        for r in _NEIGHBORS_BY_MAC.rows(conn, sorted(wanted), {"network_id": nid})
    ]
    port_ids.difference_update(r["id"] for r in rows)
    rows.extend(rows_in(conn, _NEIGHBORS_BY_ID, port_ids))
    entries = [neighbor_state(r, r["tunnel_ip"] or "") for r in rows]
    return ondemand.answers(queries, entries)


def warm_resolve(conn: sa.Connection) -> None:
    """Run each of `resolve`'s statements once, for an address, a MAC and a port nobody
    holds: a connection kept for misses then has them compiled and cached before the first
    (which otherwise paid 1-2 ms for them)."""
    resolve(
        conn,
        [
            pb.ResolveQuery(network_id="", ip_address="0.0.0.0"),
            pb.ResolveQuery(network_id="", mac_address="00:00:00:00:00:00"),
        ],
    )
    rows_in(conn, _NEIGHBORS_BY_ID, [""])
