"""Network ACLs and their rules: an ACL goes to the hosts whose ports it filters.

A host holds a `NetworkAclState` (every rule) because one of its bound ports has it as its
effective ACL (`PortState.network_acl_id`: the port's own, else its first fixed IP's subnet's,
else its network's default, computed by `build`'s port loaders); the port translator sends it
with the port.

A rule change (a delete too: its log row names its ACL) re-renders its ACL, once per batch,
to exactly the hosts using it (`build.hosts_using_acls`, `rules`).

An ACL change may have moved subnets or ports between ACLs, which changes the effective ACL of
ports that the log does not name (nor can it: the old associations are gone), so the bound
ports of the ACL's network are re-sent to their hosts with the ACLs they now use. That is a
whole network's ports for a rename too: associations change rarely, and a port re-sent
unchanged changes nothing on its host. An ACL delete goes nowhere: an ACL in use cannot be
deleted (its network's delete takes it along with the ports gone), and a host forgets an ACL
with its last port using it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.translate import HOSTS, Context, LogRow, Output, Render, Translator
from alcor.southbound.translators import rules

_send = rules.sender(build.load_acls, build.hosts_using_acls, lambda d: d.network_acls)


def plan_acls(changes: Sequence[LogRow], ctx: Context) -> Render:
    by_net = {r["network_id"]: r for r in changes if r["op"] != "delete" and r["network_id"]}
    ctx.want(by_net, build.bound_ports_on_networks)
    return functools.partial(_resend_ports, by_net, ctx)


def _resend_ports(by_net: dict[str, LogRow], ctx: Context, out: Output) -> None:
    """The bound ports of each network whose ACLs changed, with the ACLs they now use."""
    ports = ctx.rows(build.bound_ports_on_networks)
    rows = [(change, p) for nid, change in by_net.items() for p in ports.get(nid) or ()]
    ctx.want((p["network_acl_id"] for _, p in rows if p["network_acl_id"]), build.load_acls)
    acls = ctx.rows(build.load_acls)
    carried: dict[str, set[str]] = {}  # port and ACL ids (UUIDs) each host's delta carries
    for change, p in rows:
        host = p["binding_host_id"]
        msg = out.delta(HOSTS, host, change)
        ids = carried.get(host)
        if ids is None:
            ids = carried[host] = {x.id for x in msg.ports} | {a.id for a in msg.network_acls}
        if p["id"] not in ids:
            ids.add(p["id"])
            msg.ports.append(build.port_state(p))
        aid = p["network_acl_id"]
        state = acls.get(aid) if aid else None
        if state is not None and aid not in ids:
            ids.add(aid)
            msg.network_acls.append(state)


TRANSLATORS = (
    Translator("network_acl", plan_acls),
    Translator("network_acl_rule", rules.planner(_send)),
)
