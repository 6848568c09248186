"""Subnets: a changed (or deleted) subnet goes to every host with a port on its network."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.translate import HOSTS, Context, LogRow, Output, Render, Translator


def _last(changes: Sequence[LogRow]) -> dict[str, LogRow]:
    return {r["resource_id"]: r for r in changes if r["network_id"]}


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    last = _last(changes)
    nids = {r["network_id"] for r in last.values()}
    ctx.want(nids, build.load_networks, build.load_subnets, build.hosts_on_networks)
    return functools.partial(_render, last, ctx)


def _render(last: dict[str, LogRow], ctx: Context, out: Output) -> None:
    nets = ctx.rows(build.load_networks)
    subs = ctx.rows(build.load_subnets)
    hosts = ctx.rows(build.hosts_on_networks)
    for sid, change in last.items():
        nid = change["network_id"]
        current = next((s for s in subs.get(nid) or [] if s["id"] == sid), None)
        net = nets.get(nid)
        for h in sorted(hosts.get(nid) or ()):
            if current is not None and change["op"] != "delete":
                state = build.subnet_state(current, (net["dns_domain"] or "") if net else "")
            else:
                state = pb.SubnetState(
                    id=sid, op=pb.DELETE, revision=change["revision"], network_id=nid
                )
            out.delta(HOSTS, h, change).subnets.append(state)


TRANSLATOR = Translator("subnet", plan)
