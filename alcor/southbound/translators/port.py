"""Ports: the port itself to its host, its neighbour entry once to its network.

A port bound to host H: a HostDelta on H's subject with the full port, its network, subnets,
security groups and network ACL (the host needs nothing else to program it; the members of
remote groups its rules name travel on those groups' subjects); hosts that the log or the
provisioning row say held it before (rebinding, unbinding, delete) get a DELETE, unless they
hold an inactive binding of it (`binding-extended`): those get the port too, flagged inactive
(programmed, not claimed), with no floating IPs and no neighbour entry. The neighbour
entry (MAC, IPs, host, tunnel IP, allowed pairs) goes ONCE on the network's subject, never
copied per host, so adding a port to a 10,000-port network costs one NeighborDelta plus one
HostDelta.

A port of a network that may be on demand (`ondemand`) also goes on its own subject, to the
hosts that resolved it; and when a host arrives on an on-demand network or leaves it, the
network's state (with its new broadcast list) goes again to every host on it.

A deleted row is gone, so a delete is rendered from the log row itself (id, network, hosts,
revision). Every port rendered is a `PortTarget`: the compiler stamps its provisioning row.
The API request of the port's newest log row travels in `PortState.request_id` (the host
echoes it in its report) and is stamped there too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build, ondemand
from alcor.southbound.build import Row
from alcor.southbound.portstatus import provisioning
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.translate import (
    HOSTS,
    NETWORKS,
    Context,
    LogRow,
    Output,
    PortTarget,
    Render,
    Translator,
)


def _by_port(changes: Sequence[LogRow]) -> dict[str, list[LogRow]]:
    out: dict[str, list[LogRow]] = {}
    for r in changes:
        if r["op"] == "create" and not r["host_id"]:
            continue  # an unbound new port concerns no host (no provisioning either)
        out.setdefault(r["resource_id"], []).append(r)
    return out


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    port_log = _by_port(changes)
    ctx.want(port_log, build.load_ports, provisioning, build.inactive_hosts)
    return functools.partial(_render, port_log, ctx)


def _render(port_log: dict[str, list[LogRow]], ctx: Context, out: Output) -> None:
    ports = ctx.rows(build.load_ports)
    pps = ctx.rows(provisioning)
    guests = ctx.rows(build.inactive_hosts)
    bound = [
        p for p in (ports.get(pid) for pid in port_log) if p is not None and p["binding_host_id"]
    ]
    held = [p for p in (ports.get(pid) for pid in port_log) if p is not None]
    ctx.want((p["network_id"] for p in held), build.load_networks, build.load_subnets)
    # deleted ones too: their invalidations depend on their network's mode
    gone = (e[-1]["network_id"] for e in port_log.values() if e[-1]["network_id"])
    ctx.want(gone, build.load_networks)
    ctx.want((p["binding_host_id"] for p in bound), build.tunnel_ips)
    ctx.want((g for p in held for g in p["security_groups"] or ()), build.load_groups)
    ctx.want((p["network_acl_id"] for p in held if p["network_acl_id"]), build.load_acls)
    tunnels = ctx.rows(build.tunnel_ips)
    send = _Sender(ctx, out)
    # on-demand networks: ports that arrived on a host in this batch, and every (network,
    # host) that gained or lost a port
    arrived: dict[tuple[str, str], int] = {}
    touched: dict[tuple[str, str], LogRow] = {}

    for pid, entries in port_log.items():
        last = entries[-1]
        cur = ports.get(pid)
        pp = pps.get(pid)
        told = {h for e in entries for h in (e["host_id"], e["old_host_id"]) if h}
        if pp is not None and pp["host_id"]:
            told.add(pp["host_id"])
        host = cur["binding_host_id"] if cur is not None else ""
        # hosts with an inactive binding (a live migration's destination): the port, flagged
        inactive = (guests.get(pid) or set()) - {host} if cur is not None else set()
        revision = cur["revision_number"] if cur is not None else last["revision"]
        network_id = cur["network_id"] if cur is not None else last["network_id"]
        net = send.nets.get(network_id) if network_id else None
        on_demand = net is not None and ondemand.is_on_demand(net)
        invalidate = net is not None and ondemand.may_be_on_demand(net)
        for h in sorted(told - {host} - inactive):
            if on_demand:
                touched[(network_id, h)] = last
            out.delta(HOSTS, h, last).ports.append(
                pb.PortState(
                    id=pid, op=pb.DELETE, revision=revision, network_id=network_id, host_id=h
                )
            )
        if cur is not None:
            for h in sorted(inactive):
                send(h, build.inactive_port_state(cur, h), cur, last)
        if cur is not None and host:
            send(host, build.port_state(cur), cur, last)
            entry = build.neighbor_state(cur, tunnels.get(host) or "")
            out.delta(NETWORKS, network_id, last).neighbors.append(entry)
            if invalidate:
                out.notice(entry, last)
            if on_demand and (pp is None or pp["host_id"] != host):
                arrived[(network_id, host)] = arrived.get((network_id, host), 0) + 1
                touched.setdefault((network_id, host), last)
            out.ports.append(
                PortTarget(
                    pid,
                    host,
                    revision,
                    last["committed_at"],
                    False,
                    last["request_id"] or None,
                    last["requested_at"],
                )
            )
        else:
            if told and network_id:
                deleted = pb.NeighborState(
                    port_id=pid, op=pb.DELETE, revision=revision, network_id=network_id
                )
                out.delta(NETWORKS, network_id, last).neighbors.append(deleted)
                if invalidate:
                    out.notice(deleted, last)
            out.ports.append(
                PortTarget(
                    pid,
                    None,
                    revision,
                    last["committed_at"],
                    cur is None,
                    last["request_id"] or None,
                    last["requested_at"],
                )
            )

    if touched:
        _resend_flood_lists(arrived, touched, ctx, out, send.sent)


def _resend_flood_lists(
    arrived: dict[tuple[str, str], int],
    touched: dict[tuple[str, str], LogRow],
    ctx: Context,
    out: Output,
    sent: dict[str, set[str]],
) -> None:
    """The network's state again to every host of an on-demand network that a host joined
    (all its ports there arrived in this batch) or left (none is left)."""
    # counted up to one more than arrived: enough to tell "all arrived now" from "held before"
    keys = {(nid, h, arrived.get((nid, h), 0) + 1): change for (nid, h), change in touched.items()}
    ctx.want(keys, build.ports_of_hosts)
    counts = ctx.rows(build.ports_of_hosts)
    nets = ctx.rows(build.load_networks)
    changed: dict[str, LogRow] = {}
    for (nid, h, cap), change in keys.items():
        if counts.get((nid, h, cap)) == cap - 1:  # joined (all arrived now) or left (none held)
            changed.setdefault(nid, change)
    for nid, change in sorted(changed.items()):
        net = nets.get(nid)
        if net is None:
            continue
        state = build.network_state(net)
        for h in sorted(net.get("flood_hosts") or ()):
            seen = sent.setdefault(h, set())
            if nid not in seen:
                seen.add(nid)
                out.delta(HOSTS, h, change).networks.append(state)


class _Sender:
    """Puts a port's state in a host's delta with what the host needs to program it (its
    network, subnets, security groups and network ACL), each of those once per delta."""

    def __init__(self, ctx: Context, out: Output) -> None:
        self.nets = ctx.rows(build.load_networks)
        self.subs = ctx.rows(build.load_subnets)
        self.groups = ctx.rows(build.load_groups)
        self.acls = ctx.rows(build.load_acls)
        self.out = out
        self.sent: dict[str, set[str]] = {}  # network, group and ACL ids each host's delta has

    def __call__(self, host: str, state: pb.PortState, cur: Row, last: LogRow) -> None:
        msg = self.out.delta(HOSTS, host, last)
        state.request_id = last["request_id"] or ""
        msg.ports.append(state)
        network_id = cur["network_id"]
        net = self.nets.get(network_id)
        seen = self.sent.setdefault(host, set())
        if net is not None and network_id not in seen:
            seen.add(network_id)
            domain = net["dns_domain"] or ""
            msg.networks.append(build.network_state(net))
            msg.subnets.extend(
                build.subnet_state(s, domain) for s in self.subs.get(network_id) or []
            )
        for gid in cur["security_groups"] or ():
            group = self.groups.get(gid)
            if group is not None and gid not in seen:
                seen.add(gid)
                msg.security_groups.append(group)
        acl_id = cur["network_acl_id"]
        acl = self.acls.get(acl_id) if acl_id else None
        if acl is not None and acl_id not in seen:
            seen.add(acl_id)
            msg.network_acls.append(acl)


TRANSLATOR = Translator("port", plan)
