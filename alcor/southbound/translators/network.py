"""Networks: a changed network goes to every host with a port on it.

A deleted network has no bound ports left, and a host forgets a network with its last port
there, so a delete goes nowhere.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.translate import HOSTS, Context, LogRow, Output, Render, Translator


def _changed(changes: Sequence[LogRow]) -> dict[str, LogRow]:
    last = {r["resource_id"]: r for r in changes}
    return {nid: r for nid, r in last.items() if r["op"] != "delete"}


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    changed = _changed(changes)
    ctx.want(changed, build.load_networks, build.hosts_on_networks)
    return functools.partial(_render, changed, ctx)


def _render(changed: dict[str, LogRow], ctx: Context, out: Output) -> None:
    nets = ctx.rows(build.load_networks)
    hosts = ctx.rows(build.hosts_on_networks)
    for nid, change in sorted(changed.items()):
        net = nets.get(nid)
        if net is None:
            continue
        for h in sorted(hosts.get(nid) or ()):
            out.delta(HOSTS, h, change).networks.append(build.network_state(net))


TRANSLATOR = Translator("network", plan)
