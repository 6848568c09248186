"""What one reachability question needs from the database, loaded through the loaders that
render the hosts' goal states (`alcor.southbound.build`), so the analyzer reads intent exactly
as the hosts are told it: the ports with their effective ACL and floating IPs, their networks'
subnets and routers, their security groups with the members of every remote group, their ACLs.

An end is a port (given by id, or by one of its fixed IPs, or by its floating IP) or, when no
port holds the address, an address outside (beyond a router's external gateway). Ports are
read with the caller's visibility (someone else's port is a 404, as in the API).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.reachability.packets import PROTOCOL_NAMES, TCP, UDP
from alcor.resources import crud
from alcor.resources.context import Context
from alcor.resources.model import Resource
from alcor.southbound import build
from alcor.southbound.protocol import goalstate_pb2 as pb


@dataclasses.dataclass(frozen=True)
class Question:
    """A checked question: two ends as given, a protocol number and a port (TCP/UDP)."""

    source: str
    destination: str
    protocol: int
    port: int | None

    @classmethod
    def parse(cls, params: dict[str, str]) -> Question:
        """From the query string; 400 (Neutron's InvalidInput) for anything malformed."""
        for name in ("source", "destination"):
            if not params.get(name):
                raise errors.InvalidInput(error_message=f"'{name}' is required")
        name = params.get("protocol", "icmp").lower()
        if name not in PROTOCOL_NAMES:
            raise errors.InvalidInput(
                error_message=f"protocol '{name}' is not one of {', '.join(PROTOCOL_NAMES)}"
            )
        protocol = PROTOCOL_NAMES[name]
        port = None
        if protocol in (TCP, UDP):
            text = params.get("port", "")
            if not text.isdecimal() or not 1 <= int(text) <= 65535:
                raise errors.InvalidInput(
                    error_message=f"{name} needs 'port', an integer 1-65535 (got '{text}')"
                )
            port = int(text)
        elif params.get("port"):
            raise errors.InvalidInput(error_message="icmp takes no 'port'")
        return cls(params["source"], params["destination"], protocol, port)


@dataclasses.dataclass
class End:
    """One end of the question."""

    given: str
    ip: str  # the address packets carry at this end (a port's first IPv4 fixed IP)
    port: dict[str, Any] | None = None  # None: an address outside
    subnet: dict[str, Any] | None = None
    groups: list[pb.SecurityGroupState] = dataclasses.field(default_factory=list)
    acl: pb.NetworkAclState | None = None
    floating_ip: pb.FloatingIpState | None = None  # the port's, on `ip`
    by_floating_ip: bool = False  # the question named this port by its floating IP


@dataclasses.dataclass
class Intent:
    question: Question
    source: End
    destination: End
    routers: dict[str, pb.RouterState]  # every router with an interface on either network
    members: dict[str, frozenset[str]]  # remote group -> its bound members' addresses


def _ipv4(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version != 4:
        raise errors.InvalidInput(error_message=f"'{text}': only IPv4 is analyzed")
    return str(address)


_FIXED_IPS_TEXT = sa.cast(build.ports_t.c.fixed_ips, sa.Text)
_FIP_PORT = sa.select(build.fips_t.c.port_id).where(
    build.fips_t.c.floating_ip_address == sa.bindparam("ip"), build.fips_t.c.port_id.is_not(None)
)


def _port_ids_with_ip(conn: sa.Connection, ip: str) -> list[str]:
    """Ports holding `ip` as a fixed IP (the JSON text narrows, the decoded list decides)."""
    stmt = sa.select(build.ports_t.c.id, build.ports_t.c.fixed_ips).where(
        _FIXED_IPS_TEXT.like(f'%"{ip}"%')
    )
    return [r.id for r in conn.execute(stmt) if any(f["ip_address"] == ip for f in r.fixed_ips)]


def _resolve(
    conn: sa.Connection, ports: Resource, ctx: Context, given: str
) -> tuple[str | None, str | None, bool]:
    """(port id, address, by floating IP) for what the question names."""
    ip = _ipv4(given)
    if ip is None:
        crud.fetch(conn, ports, ctx, given)  # 404 unless it is a port the caller sees
        return given, None, False
    held = _port_ids_with_ip(conn, ip)
    if len(held) > 1:
        raise errors.InvalidInput(
            error_message=f"{ip} is a fixed IP of {len(held)} ports; name the port by its id"
        )
    if held:
        crud.fetch(conn, ports, ctx, held[0])
        return held[0], ip, False
    behind = conn.execute(_FIP_PORT, {"ip": ip}).scalar()
    if behind is not None:
        crud.fetch(conn, ports, ctx, behind)
        return behind, None, True
    return None, ip, False


def _first_ipv4(port: dict[str, Any], subnets: list[dict[str, Any]]) -> tuple[str, Any]:
    v4 = {s["id"]: s for s in subnets if s["ip_version"] == 4}
    for fixed in port["fixed_ips"] or ():
        if fixed["subnet_id"] in v4:
            return fixed["ip_address"], v4[fixed["subnet_id"]]
    raise errors.InvalidInput(error_message=f"port {port['id']} has no IPv4 address")


def load(conn: sa.Connection, ports: Resource, ctx: Context, question: Question) -> Intent:
    resolved = [_resolve(conn, ports, ctx, g) for g in (question.source, question.destination)]
    if resolved[0][0] is None and resolved[1][0] is None:
        raise errors.InvalidInput(error_message="at least one end must be a port")
    if resolved[0][2]:
        raise errors.InvalidInput(
            error_message=f"source {question.source} is a floating IP: name its port instead"
        )
    rows = build.load_ports(conn, [r[0] for r in resolved if r[0]])
    networks = {rows[r[0]]["network_id"] for r in resolved if r[0]}
    subnets = build.load_subnets(conn, networks)
    ends: list[End] = []
    for (port_id, ip, by_fip), given in zip(
        resolved, (question.source, question.destination), strict=True
    ):
        if port_id is None:
            assert ip is not None
            ends.append(End(given, ip))
            continue
        row = dict(rows[port_id])
        own_ip, subnet = _first_ipv4(row, [dict(s) for s in subnets.get(row["network_id"], [])])
        if ip is not None and ip != own_ip:
            subnet = next(
                dict(s)
                for s in subnets[row["network_id"]]
                for f in row["fixed_ips"]
                if f["ip_address"] == ip and f["subnet_id"] == s["id"]
            )
        address = ip or own_ip
        fip = next((f for f in row["floating_ips"] if f.fixed_ip_address == address), None)
        ends.append(End(given, address, row, subnet, floating_ip=fip, by_floating_ip=by_fip))

    held = [(e, e.port) for e in ends if e.port is not None]
    groups = build.load_groups(conn, {g for _, p in held for g in p["security_groups"] or ()})
    acls = build.load_acls(conn, {p["network_acl_id"] for _, p in held if p["network_acl_id"]})
    for end, port in held:
        end.groups = [groups[g] for g in port["security_groups"] or () if g in groups]
        end.acl = acls.get(port["network_acl_id"] or "")
    members = {
        gid: frozenset(ip for m in build.address_set(conn, gid).members for ip in m.ips)
        for gid in build.remote_groups(groups.values())
    }
    on_networks = build.routers_on_networks(conn, networks)
    routers = build.load_routers(conn, {r for ids in on_networks.values() for r in ids})
    return Intent(question, ends[0], ends[1], routers, members)
