"""Hosts: a host whose tunnel IP changed re-announces its ports' neighbour entries.

The RPC server logs a "host" change only for hosts that have bound ports (`rpc.register_hosts`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.translate import NETWORKS, Context, LogRow, Output, Render, Translator


def _by_host(changes: Sequence[LogRow]) -> dict[str, LogRow]:
    return {r["host_id"]: r for r in changes if r["host_id"]}


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    by_host = _by_host(changes)
    ctx.want(by_host, build.ports_on_hosts, build.tunnel_ips)
    return functools.partial(_render, by_host, ctx)


def _render(by_host: dict[str, LogRow], ctx: Context, out: Output) -> None:
    ports = ctx.rows(build.ports_on_hosts)
    tunnels = ctx.rows(build.tunnel_ips)
    for host, change in by_host.items():
        tunnel = tunnels.get(host) or ""
        for p in ports.get(host) or []:
            out.delta(NETWORKS, p["network_id"], change).neighbors.append(
                build.neighbor_state(p, tunnel)
            )


TRANSLATOR = Translator("host", plan)
