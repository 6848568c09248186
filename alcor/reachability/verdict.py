"""Walking one question's path hop by hop: the source port, its ACL and security groups on the
way out, the L3 step (same network, a router's routes, a floating IP or the router's SNAT),
the destination's ACL and groups on the way in, and the reply back through the stateless ACLs.

Every hop is evaluated, so a path blocked in two places shows both; the verdict is the first
hop that blocks (`decided_by`). A question the analyzer cannot answer from intent (a port
reaching another port's floating IP, which hairpins through the external segment) gets
`reachable: null` and says so rather than guess.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from alcor.reachability import filters, packets
from alcor.reachability.intent import End, Intent
from alcor.southbound.protocol import goalstate_pb2 as pb

Hop = dict[str, Any]
NAMES = {packets.TCP: "tcp", packets.UDP: "udp", packets.ICMP: "icmp"}


def _hop(kind: str, where: str, ok: bool | None, detail: str, **extra: Any) -> Hop:
    verdict = "unknown" if ok is None else ("pass" if ok else "blocked")
    return {"hop": kind, "at": where, "verdict": verdict, "detail": detail, **extra}


def _name(end: End) -> str:
    if end.port is None:
        return f"outside address {end.ip}"
    return f"port {end.port['id']} ({end.ip})"


def _port_hop(end: End, role: str) -> Hop:
    port = end.port
    assert port is not None
    where = f"{role} {_name(end)}"
    host = port["binding_host_id"]
    if not host:
        return _hop("port", where, False, "not bound to a host (binding:host_id is empty)")
    if not port["admin_state_up"]:
        return _hop("port", where, False, "administratively down")
    if port["status"] != "ACTIVE":
        return _hop("port", where, False, f"{port['status']}: its host has not programmed it")
    return _hop("port", where, True, f"ACTIVE on {host}", id=port["id"], host=host)


def _filter_hops(
    end: End, role: str, direction: str, packet: packets.Packet, members: Any, reply: bool
) -> list[Hop]:
    """The ACL (and, for stateless groups or forward packets, the security groups) `packet`
    meets at `end` going `direction`."""
    assert end.port is not None
    where = f"{role} {_name(end)}, {direction}{' (reply)' if reply else ''}"
    if end.port["port_security_enabled"] is False:
        return [] if reply else [_hop("port_security", where, True, "disabled: no filtering")]
    out: list[Hop] = []
    if end.acl is not None:
        d = filters.network_acl(end.acl, direction, packet)
        out.append(
            _hop(
                "network_acl",
                where,
                d.allowed,
                f"{packet.describe()}: {d.why}",
                id=end.acl.id,
                rule=d.rule,
            )
        )
    stateful = all(g.stateful for g in end.groups)
    if not reply or not stateful:
        d = filters.security_groups(end.groups, members, direction, packet)
        detail = f"{packet.describe()}: {d.why}"
        if reply:
            detail += " (a stateless group: replies need a rule of their own)"
        out.append(
            _hop(
                "security_groups",
                where,
                d.allowed,
                detail,
                ids=[g.id for g in end.groups],
                rule=d.rule,
            )
        )
    return out


def _router_of(intent: Intent, end: End) -> pb.RouterState | None:
    assert end.subnet is not None
    for router in intent.routers.values():
        if any(i.subnet_id == end.subnet["id"] for i in router.interfaces):
            return router
    return None


def _lookup(router: pb.RouterState, ip: str) -> tuple[str, str] | None:
    """The router's longest-prefix route for `ip`: ("interface", subnet id) for a connected
    subnet, ("route", next hop) for an extra route; None: beyond every route."""
    address = ipaddress.ip_address(ip)
    best: tuple[int, tuple[str, str]] | None = None
    candidates = [(i.cidr, ("interface", i.subnet_id)) for i in router.interfaces]
    candidates += [(r.destination, ("route", r.nexthop)) for r in router.routes]
    for cidr, target in candidates:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 4 and address in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, target)
    return best[1] if best else None


def _routed(intent: Intent, src: End, dst: End) -> Hop:
    assert src.subnet is not None and dst.subnet is not None
    router = _router_of(intent, src)
    where = f"router between {src.subnet['cidr']} and {dst.ip}"
    if router is None:
        return _hop(
            "route",
            where,
            False,
            f"no router has an interface on {src.subnet['cidr']} (missing route to {dst.ip})",
        )
    if not router.admin_state_up:
        return _hop("router", where, False, f"router {router.id} is administratively down")
    found = _lookup(router, dst.ip)
    scopes = {i.subnet_id: i.address_scope_id for i in router.interfaces}
    mine, theirs = scopes[src.subnet["id"]], scopes.get(dst.subnet["id"], "")
    if found == ("interface", dst.subnet["id"]) and mine != theirs:
        why = (
            f"router {router.id} does not route between address scopes {mine or '(none)'} "
            f"and {theirs or '(none)'}"
        )
        return _hop("route", where, False, why, id=router.id)
    if found == ("interface", dst.subnet["id"]):
        return _hop(
            "router",
            where,
            True,
            f"router {router.id} routes {src.subnet['cidr']} -> {dst.subnet['cidr']}",
            id=router.id,
        )
    if found is None:
        why = f"router {router.id} has no interface on {dst.subnet['cidr']} (missing route)"
    else:
        why = f"router {router.id} sends {dst.ip} to {found[0]} {found[1]}, not its subnet"
    return _hop("route", where, False, why, id=router.id)


def _to_outside(intent: Intent, src: End, dst: End) -> Hop:
    assert src.subnet is not None
    router = _router_of(intent, src)
    where = f"from {src.subnet['cidr']} to outside address {dst.ip}"
    if router is None:
        return _hop("route", where, False, f"no router on {src.subnet['cidr']}: no way out")
    found = _lookup(router, dst.ip)
    if found is not None:
        return _hop(
            "route",
            where,
            False,
            f"{dst.ip} is inside router {router.id}'s {found[0]} {found[1]}, and no port holds it",
            id=router.id,
        )
    fip = src.floating_ip
    if fip is not None and fip.router_id == router.id and router.admin_state_up:
        return _hop(
            "floating_ip",
            where,
            True,
            f"NATed 1:1 to floating IP {fip.floating_ip_address} on the port's host",
            id=fip.id,
        )
    if not router.HasField("gateway"):
        return _hop("route", where, False, f"router {router.id} has no external gateway")
    gateway = router.gateway
    if not router.admin_state_up:
        return _hop("router", where, False, f"router {router.id} is administratively down")
    if not gateway.enable_snat:
        return _hop("snat", where, False, f"router {router.id} has SNAT disabled", id=router.id)
    if not gateway.snat_host:
        return _hop("snat", where, False, "no live gateway host holds the router's SNAT")
    return _hop(
        "snat",
        where,
        True,
        f"SNAT to {gateway.ip_address} on {gateway.snat_host} (router {router.id})",
        id=router.id,
    )


def _from_outside(src: End, dst: End) -> Hop:
    where = f"from outside address {src.ip} to {_name(dst)}"
    fip = dst.floating_ip
    if fip is None or not fip.router_id:
        return _hop("floating_ip", where, False, "no floating IP: a fixed IP is not reachable")
    return _hop(
        "floating_ip",
        where,
        True,
        f"floating IP {fip.floating_ip_address} NATed to {dst.ip} on the port's host",
        id=fip.id,
    )


def _middle(intent: Intent, src: End, dst: End) -> Hop:
    """The L3 step between the two ends."""
    if src.port is not None and dst.by_floating_ip:
        return _hop(
            "floating_ip",
            f"to floating IP {intent.question.destination}",
            None,
            "a port reaching a floating IP hairpins through the external network: not analyzed",
        )
    if src.port is not None and dst.port is not None:
        if src.port["network_id"] == dst.port["network_id"]:
            return _hop("network", "same network", True, f"{src.ip} -> {dst.ip} switched")
        return _routed(intent, src, dst)
    if src.port is not None:
        return _to_outside(intent, src, dst)
    return _from_outside(src, dst)


def analyze(intent: Intent) -> dict[str, Any]:
    """The verdict and the path of one question, hops in the order packets meet them: the
    source port and its filters, the L3 step, the destination's filters and port, then the
    reply's stateless filters back."""
    q = intent.question
    src, dst = intent.source, intent.destination
    members = intent.members
    middle = _middle(intent, src, dst)
    path: list[Hop] = []
    back: list[Hop] = []
    if src.port is not None:
        path.append(_port_hop(src, "source"))
        out = packets.forward(q.protocol, q.port, dst.ip)
        path += _filter_hops(src, "source", "egress", out, members, False)
        back += _filter_hops(
            src, "source", "ingress", packets.reply(q.protocol, dst.ip), members, True
        )
    path.append(middle)
    if dst.port is not None:
        arriving = packets.forward(q.protocol, q.port, src.ip)
        path += _filter_hops(dst, "destination", "ingress", arriving, members, False)
        path.append(_port_hop(dst, "destination"))
        reply = packets.reply(q.protocol, src.ip)
        back[:0] = _filter_hops(dst, "destination", "egress", reply, members, True)
    path += back
    blocked = [h for h in path if h["verdict"] == "blocked"]
    reachable = False if blocked else (None if middle["verdict"] == "unknown" else True)
    decided = blocked[0] if blocked else (middle if reachable is None else None)
    return {
        "reachable": reachable,
        "source": _summary(src),
        "destination": _summary(dst),
        "protocol": NAMES[q.protocol],
        "port": q.port,
        "path": path,
        "decided_by": decided,
        "summary": _sentence(reachable, decided),
    }


def _summary(end: End) -> dict[str, Any]:
    if end.port is None:
        return {"address": end.ip, "kind": "outside"}
    return {
        "address": end.ip,
        "kind": "port",
        "port_id": end.port["id"],
        "network_id": end.port["network_id"],
        "host": end.port["binding_host_id"] or None,
        "floating_ip": end.floating_ip.floating_ip_address if end.floating_ip else None,
    }


def _sentence(reachable: bool | None, decided: Hop | None) -> str:
    if reachable:
        return "reachable"
    assert decided is not None
    prefix = "unknown" if reachable is None else "blocked"
    return f"{prefix} at {decided['hop']} ({decided['at']}): {decided['detail']}"
